//! The keys that open apps, in memory: each app's current key, and keys it replaced that stay
//! valid until they expire (`POST /v1/apps/{app}/keys`). Only sha256 hashes are kept.
//!
//! A key is found by the first 16 hex digits of its hash, then its whole hash is compared in
//! constant time: how long a refusal takes says nothing about how close a guess came.

use std::collections::HashMap;

use crate::store::{AppKey, Millis};

#[derive(Debug, Default)]
pub struct Keys {
    by_prefix: HashMap<String, Vec<AppKey>>,
    /// Each app's current key (its hash): which apps exist, without a walk over every key.
    current: HashMap<String, String>,
}

/// The part of a hash keys are looked up by.
fn prefix(hash: &str) -> String {
    hash.chars().take(16).collect()
}

/// Whether `a` and `b` are equal, in a time that depends on their length only.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl Keys {
    pub fn new(keys: Vec<AppKey>) -> Keys {
        let mut out = Keys::default();
        for key in keys {
            out.insert(key);
        }
        out
    }

    pub fn insert(&mut self, key: AppKey) {
        if key.expires_at.is_none() {
            self.current.insert(key.app_id.clone(), key.hash.clone());
        }
        self.by_prefix
            .entry(prefix(&key.hash))
            .or_default()
            .push(key);
    }

    /// The app a key (by its hash) opens at `now`.
    pub fn app_of(&self, hash: &str, now: Millis) -> Option<&str> {
        self.by_prefix
            .get(&prefix(hash))?
            .iter()
            .find(|k| same(k.hash.as_bytes(), hash.as_bytes()))
            .filter(|k| k.expires_at.is_none_or(|at| at > now))
            .map(|k| k.app_id.as_str())
    }

    pub fn has_app(&self, app_id: &str) -> bool {
        self.current.contains_key(app_id)
    }

    /// Forgets every key of a deleted app.
    pub fn remove_app(&mut self, app_id: &str) {
        self.current.remove(app_id);
        for keys in self.by_prefix.values_mut() {
            keys.retain(|k| k.app_id != app_id);
        }
        self.by_prefix.retain(|_, keys| !keys.is_empty());
    }

    /// `hash` becomes the app's key; the current one stays valid until `old_until` (or goes, when
    /// that is not after `now`). Expired keys are dropped.
    pub fn rotate(&mut self, app_id: &str, hash: String, old_until: Millis, now: Millis) {
        if let Some(old) = self.current.remove(app_id)
            && let Some(keys) = self.by_prefix.get_mut(&prefix(&old))
        {
            for k in keys.iter_mut().filter(|k| k.hash == old) {
                k.expires_at = Some(old_until);
            }
        }
        for keys in self.by_prefix.values_mut() {
            keys.retain(|k| k.expires_at.is_none_or(|at| at > now));
        }
        self.by_prefix.retain(|_, keys| !keys.is_empty());
        self.insert(AppKey {
            hash,
            app_id: app_id.to_string(),
            expires_at: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: &str, app: &str) -> AppKey {
        AppKey {
            hash: hash.into(),
            app_id: app.into(),
            expires_at: None,
        }
    }

    #[test]
    fn a_replaced_key_opens_its_app_until_it_expires() {
        let h1 = "a".repeat(64);
        let (h2, h3) = ("b".repeat(64), "c".repeat(64));
        let mut keys = Keys::new(vec![key(&h1, "app1")]);
        assert_eq!(keys.app_of(&h1, 0), Some("app1"));
        keys.rotate("app1", h2.clone(), 1_000, 0);
        assert_eq!(keys.app_of(&h1, 999), Some("app1"));
        assert_eq!(keys.app_of(&h1, 1_000), None);
        assert_eq!(keys.app_of(&h2, 5_000), Some("app1"));
        // Revoked at once.
        keys.rotate("app1", h3.clone(), 0, 2_000);
        assert_eq!(keys.app_of(&h2, 2_000), None);
        assert_eq!(keys.app_of(&h3, 2_000), Some("app1"));
        assert!(keys.has_app("app1"));
        keys.remove_app("app1");
        assert!(!keys.has_app("app1") && keys.app_of(&h3, 0).is_none());
    }

    #[test]
    fn hashes_that_share_a_prefix_are_told_apart() {
        let (h1, h2) = (
            format!("{}1", "a".repeat(63)),
            format!("{}2", "a".repeat(63)),
        );
        let keys = Keys::new(vec![key(&h1, "one"), key(&h2, "two")]);
        assert_eq!(keys.app_of(&h2, 0), Some("two"));
        assert_eq!(keys.app_of(&format!("{}3", "a".repeat(63)), 0), None);
        assert!(!same(b"ab", b"abc") && same(b"abc", b"abc") && !same(b"abc", b"abd"));
    }
}
