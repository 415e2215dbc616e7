//! Signatures on every request, in the Standard Webhooks scheme
//! (<https://www.standardwebhooks.com>): `webhook-id` (the delivery's id), `webhook-timestamp`
//! (unix seconds of the attempt) and `webhook-signature`, a space-separated list of signatures of
//! `"id.timestamp.body"`, one per signing key: `v1,<base64 HMAC-SHA256>` for a symmetric
//! `whsec_` secret, `v1a,<base64 ed25519 signature>` for an asymmetric `whsk_` key, whose
//! receivers verify with its public `whpk_` key.
//!
//! Each webhook has a key of its scheme (see [`Scheme`]) made when it is created. A rotation (or
//! a change of scheme) makes a new one while the old one keeps signing too until its grace period
//! ends, so a receiver can switch keys without dropping a request. At rest the keys are sealed
//! like secret header values (see [`crate::secrets::Sealer`]).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::secrets::Sealer;
use crate::store::Millis;

/// The prefix of a symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The prefix of an asymmetric (ed25519) secret key: its 32-byte seed in base64.
pub const SECRET_KEY_PREFIX: &str = "whsk_";
/// The prefix of an ed25519 public key: its 32 bytes in base64.
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

/// Random bytes of a new symmetric secret (the scheme allows 24 to 64), and of an ed25519 seed.
const SECRET_BYTES: usize = 32;

/// How a webhook signs: `symmetric` (HMAC-SHA256 with a secret the receiver shares, the
/// default) or `ed25519` (a key pair: the receiver holds only the public key, so it cannot sign,
/// and a leak of it lets nobody forge a request).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Symmetric,
    Ed25519,
}

impl Scheme {
    pub fn parse(text: &str) -> Option<Scheme> {
        match text {
            "symmetric" => Some(Scheme::Symmetric),
            "ed25519" => Some(Scheme::Ed25519),
            _ => None,
        }
    }
}

/// A webhook's signing secrets, newest first, each until it expires (`None`: never).
#[derive(Clone, Default)]
pub struct Signer {
    keys: Vec<(Secret, Option<Millis>)>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({} keys, [redacted])", self.keys.len())
    }
}

/// One key: its text (`whsec_…` or `whsk_…`) and what signs with it.
#[derive(Clone)]
struct Secret {
    text: String,
    key: Key,
}

#[derive(Clone)]
enum Key {
    Hmac(hmac::Key),
    /// The key pair, and its public key as a receiver writes it (`whpk_…`).
    Ed25519(Arc<Ed25519KeyPair>, String),
}

impl Secret {
    fn parse(text: &str) -> Result<Secret, String> {
        let decode = |prefix: &str, encoded: &str| {
            STANDARD
                .decode(encoded)
                .map_err(|e| format!("a signing key is base64 after {prefix}: {e}"))
        };
        let key = if let Some(encoded) = text.strip_prefix(SECRET_PREFIX) {
            Key::Hmac(hmac::Key::new(
                hmac::HMAC_SHA256,
                &decode(SECRET_PREFIX, encoded)?,
            ))
        } else if let Some(encoded) = text.strip_prefix(SECRET_KEY_PREFIX) {
            let pair = Ed25519KeyPair::from_seed_unchecked(&decode(SECRET_KEY_PREFIX, encoded)?)
                .map_err(|_| format!("a {SECRET_KEY_PREFIX} key is a 32-byte ed25519 seed"))?;
            let public = format!(
                "{PUBLIC_KEY_PREFIX}{}",
                STANDARD.encode(pair.public_key().as_ref())
            );
            Key::Ed25519(Arc::new(pair), public)
        } else {
            return Err(format!(
                "a signing key starts with {SECRET_PREFIX} or {SECRET_KEY_PREFIX}"
            ));
        };
        Ok(Secret {
            text: text.to_owned(),
            key,
        })
    }

    /// What a receiver verifies with: the shared secret, or the public key.
    fn verifying(&self) -> &str {
        match &self.key {
            Key::Hmac(_) => &self.text,
            Key::Ed25519(_, public) => public,
        }
    }

    fn scheme(&self) -> Scheme {
        match self.key {
            Key::Hmac(_) => Scheme::Symmetric,
            Key::Ed25519(..) => Scheme::Ed25519,
        }
    }

    fn sign_into(&self, out: &mut String, id: &str, timestamp: i64, body: &[u8]) {
        let timestamp = timestamp.to_string();
        let parts = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        match &self.key {
            Key::Hmac(key) => {
                let mut context = hmac::Context::with_key(key);
                for part in parts {
                    context.update(part);
                }
                out.push_str("v1,");
                STANDARD.encode_string(context.sign().as_ref(), out);
            }
            Key::Ed25519(pair, _) => {
                out.push_str("v1a,");
                STANDARD.encode_string(pair.sign(&parts.concat()).as_ref(), out);
            }
        }
    }
}

/// A new key of `scheme`: `whsec_` or `whsk_` and 32 bytes from the OS's random source, in
/// base64.
pub fn new_key(scheme: Scheme) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system's random source works");
    let prefix = match scheme {
        Scheme::Symmetric => SECRET_PREFIX,
        Scheme::Ed25519 => SECRET_KEY_PREFIX,
    };
    format!("{prefix}{}", STANDARD.encode(bytes))
}

/// A new symmetric secret (see [`new_key`]).
pub fn new_secret() -> String {
    new_key(Scheme::Symmetric)
}

/// A stored key: its secret sealed, and when it stops signing.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredKey {
    key: String,
    expires_at: Option<Millis>,
}

/// The name sealed secrets are bound to (no header can have it: it has a space).
const SEALED_AS: &str = "signing secret";

impl Signer {
    /// A signer with one secret that never expires.
    pub fn with_secret(text: &str) -> Result<Signer, String> {
        Ok(Signer {
            keys: vec![(Secret::parse(text)?, None)],
        })
    }

    /// The keys as the store keeps them (JSON, each secret sealed).
    pub fn to_stored(&self, sealer: &Sealer) -> String {
        let keys: Vec<StoredKey> = self
            .keys
            .iter()
            .map(|(secret, expires_at)| StoredKey {
                key: sealer.seal(SEALED_AS, &secret.text),
                expires_at: *expires_at,
            })
            .collect();
        serde_json::to_string(&keys).unwrap_or_else(|_| "[]".to_owned())
    }

    /// The keys the store keeps (see [`Signer::to_stored`]), opened.
    pub fn from_stored(stored: &str, sealer: &Sealer) -> Result<Signer, String> {
        let keys: Vec<StoredKey> =
            serde_json::from_str(stored).map_err(|e| format!("signing keys: {e}"))?;
        let keys = keys
            .into_iter()
            .map(|k| {
                let text = sealer
                    .open(SEALED_AS, &k.key)
                    .map_err(|e| format!("signing keys: {e}"))?;
                Ok((Secret::parse(&text)?, k.expires_at))
            })
            .collect::<Result<_, String>>()?;
        Ok(Signer { keys })
    }

    /// Whether there is no key at all (a webhook stored before signatures).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// What a receiver verifies the newest key's signatures with: its `whsec_` secret, or the
    /// `whpk_` public key of its `whsk_` key.
    pub fn current(&self) -> Option<&str> {
        self.keys.first().map(|(s, _)| s.verifying())
    }

    /// The scheme of the newest key.
    pub fn scheme(&self) -> Option<Scheme> {
        self.keys.first().map(|(s, _)| s.scheme())
    }

    /// When the secret the current one replaced stops signing, while it still does at `now`.
    pub fn previous_expires_at(&self, now: Millis) -> Option<Millis> {
        self.keys
            .iter()
            .skip(1)
            .filter_map(|(_, until)| *until)
            .find(|until| *until > now)
    }

    /// `secret` becomes the signing key; the current one keeps signing until `old_until` (not
    /// at all when that has passed); older ones go.
    pub fn rotated(&self, secret: &str, old_until: Millis, now: Millis) -> Result<Signer, String> {
        let mut keys = vec![(Secret::parse(secret)?, None)];
        if let Some((old, _)) = self.keys.first()
            && old_until > now
        {
            keys.push((old.clone(), Some(old_until)));
        }
        Ok(Signer { keys })
    }

    /// Adds `webhook-timestamp` (`timestamp`, unix seconds) and `webhook-signature` to `request`,
    /// to be sent as `webhook_id`.
    pub fn sign_request(
        &self,
        request: &mut crate::request::RenderedRequest,
        webhook_id: &str,
        timestamp: i64,
    ) {
        let body = request.body.as_deref().unwrap_or("").as_bytes();
        let Some(signature) = self.sign(webhook_id, timestamp, body, crate::store::now_ms()) else {
            return;
        };
        request.headers.retain(|(name, _)| {
            !name.eq_ignore_ascii_case("webhook-timestamp")
                && !name.eq_ignore_ascii_case("webhook-signature")
        });
        request
            .headers
            .push(("webhook-timestamp".into(), timestamp.to_string()));
        request
            .headers
            .push(("webhook-signature".into(), signature));
    }

    /// The `webhook-signature` value for a request: a signature per key still valid at `now`
    /// (unix milliseconds), space-separated; `None` without a key.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8], now: Millis) -> Option<String> {
        let mut out = String::new();
        for (secret, expires_at) in &self.keys {
            if expires_at.is_some_and(|until| until <= now) {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            secret.sign_into(&mut out, id, timestamp, body);
        }
        (!out.is_empty()).then_some(out)
    }
}

/// The signer of a stored webhook: its keys opened, or, for a webhook stored before signatures
/// had none, a new key of `scheme` made and stored.
pub async fn signer_of(
    store: &dyn crate::store::Store,
    sealer: &Sealer,
    record: &crate::store::WebhookRecord,
    scheme: Scheme,
) -> Result<Signer, String> {
    let signer = Signer::from_stored(&record.signing, sealer)?;
    if !signer.is_empty() {
        return Ok(signer);
    }
    let signer = Signer::with_secret(&new_key(scheme))?;
    store
        .set_webhook_signing(&record.app_id, &record.id, signer.to_stored(sealer))
        .await
        .map_err(|e| e.to_string())?;
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published example.
    #[test]
    fn signs_the_specifications_vector() {
        let signer = Signer::with_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signer
                .sign(
                    "msg_p5jXN8AQM9LWM0D4loKWxJek",
                    1614265330,
                    br#"{"test": 2432232314}"#,
                    0
                )
                .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotated_key_signs_beside_the_new_one_until_it_expires() {
        let old = new_secret();
        let new = new_secret();
        let signer = Signer::with_secret(&old)
            .unwrap()
            .rotated(&new, 2_000, 1_000)
            .unwrap();
        assert_eq!(signer.current(), Some(new.as_str()));
        let both = signer.sign("msg_1", 5, b"{}", 1_500).unwrap();
        let alone_new = Signer::with_secret(&new)
            .unwrap()
            .sign("msg_1", 5, b"{}", 0);
        let alone_old = Signer::with_secret(&old)
            .unwrap()
            .sign("msg_1", 5, b"{}", 0);
        assert_eq!(
            both,
            format!("{} {}", alone_new.clone().unwrap(), alone_old.unwrap())
        );
        assert_eq!(signer.sign("msg_1", 5, b"{}", 2_000), alone_new);
        // A grace that has passed keeps no old key.
        let revoked = Signer::with_secret(&old)
            .unwrap()
            .rotated(&new, 1_000, 1_000)
            .unwrap();
        assert_eq!(revoked.keys.len(), 1);
    }

    #[test]
    fn an_ed25519_key_signs_v1a_and_shows_its_public_key() {
        let key = new_key(Scheme::Ed25519);
        assert!(key.starts_with(SECRET_KEY_PREFIX));
        let signer = Signer::with_secret(&key).unwrap();
        assert_eq!(signer.scheme(), Some(Scheme::Ed25519));
        let public = signer.current().unwrap();
        let public = STANDARD
            .decode(public.strip_prefix(PUBLIC_KEY_PREFIX).unwrap())
            .unwrap();
        let header = signer.sign("msg_1", 7, b"{}", 0).unwrap();
        let signature = STANDARD
            .decode(header.strip_prefix("v1a,").unwrap())
            .unwrap();
        let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public);
        assert!(verifier.verify(b"msg_1.7.{}", &signature).is_ok());
        assert!(verifier.verify(b"msg_1.8.{}", &signature).is_err());
        assert!(
            Signer::with_secret("whsk_AAAA").is_err(),
            "a seed is 32 bytes"
        );
    }

    #[test]
    fn keys_are_sealed_at_rest_and_open_again() {
        let sealer = Sealer::ephemeral();
        let secret = new_secret();
        let stored = Signer::with_secret(&secret).unwrap().to_stored(&sealer);
        assert!(!stored.contains(&secret[SECRET_PREFIX.len()..]), "{stored}");
        let opened = Signer::from_stored(&stored, &sealer).unwrap();
        assert_eq!(opened.current(), Some(secret.as_str()));
        assert!(Signer::from_stored(&stored, &Sealer::ephemeral()).is_err());
    }

    #[test]
    fn new_secrets_are_random_32_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let bytes = STANDARD.decode(&a[SECRET_PREFIX.len()..]).unwrap();
        assert_eq!(bytes.len(), 32);
    }
}
