//! Secrets in webhook definitions: header values that are credentials (an `Authorization`, a
//! `Cookie`, a header named like a key or token, or one the webhook marks in `secret_headers`)
//! and the password of a URL's `user:password@`.
//!
//! They are write-only: the API shows them as [`MASK`], and a definition sent back with the mask
//! in their place keeps the stored value. Logs, previews and cURL commands show the mask too. At
//! rest, secret header values are sealed (ChaCha20-Poly1305 from `ring`, a random nonce each, the
//! header's name as associated data) with a key of the server's own (see [`Sealer::load`]), so a
//! copied database file alone reveals none of them.

use std::path::{Path, PathBuf};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::{DatabaseUrl, SecretsConfig};
use crate::webhook::WebhookSpec;

/// What a secret is shown as.
pub const MASK: &str = "********";

/// The prefix of a sealed value in a stored definition.
const SEALED: &str = "sealed:v1:";

/// Bytes of the sealing key.
const KEY_LEN: usize = 32;

/// Why secrets cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secrets key {0}")]
    Key(String),
    #[error("cannot read or create the secrets key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    /// A stored value the key does not open.
    #[error(
        "headers.{0}: the stored secret cannot be opened with this server's secrets key (was the \
         key file replaced?)"
    )]
    Open(String),
}

/// Seals and opens secret header values.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// The key file beside an SQLite database: `FILE.key`.
pub fn default_key_file(database: &DatabaseUrl) -> PathBuf {
    match database {
        DatabaseUrl::Sqlite(path) => {
            let mut name = path.as_os_str().to_owned();
            name.push(".key");
            PathBuf::from(name)
        }
    }
}

impl Sealer {
    /// The key from `secrets.key` (64 hex digits) when set, else from `secrets.key_file` (by
    /// default `DATABASE.key`), which is created with 32 random bytes and mode 0600 on first start.
    pub fn load(config: &SecretsConfig, database: &DatabaseUrl) -> Result<Sealer, SecretsError> {
        if let Some(hex) = &config.key {
            return Sealer::from_hex(hex.expose())
                .map_err(|m| SecretsError::Key(format!("(secrets.key) {m}")));
        }
        let path = config
            .key_file
            .clone()
            .unwrap_or_else(|| default_key_file(database));
        let hex = read_or_create(&path).map_err(|source| SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        })?;
        Sealer::from_hex(hex.trim())
            .map_err(|m| SecretsError::Key(format!("in {}: {m}", path.display())))
    }

    fn from_hex(hex: &str) -> Result<Sealer, String> {
        let bytes = from_hex(hex)
            .filter(|b| b.len() == KEY_LEN)
            .ok_or_else(|| format!("must be {} hex digits", 2 * KEY_LEN))?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| "is not a key")?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// A sealer with a random key (for tests and tools that store nothing).
    pub fn ephemeral() -> Sealer {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source works");
        Sealer::from_hex(&to_hex(&bytes)).expect("a random key is a key")
    }

    pub(crate) fn seal(&self, name: &str, value: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut data = value.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(name).as_bytes()),
                &mut data,
            )
            .expect("sealing a header value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{SEALED}{}", to_hex(&out))
    }

    pub(crate) fn open(&self, name: &str, stored: &str) -> Result<String, SecretsError> {
        let Some(hex) = stored.strip_prefix(SEALED) else {
            // Stored before secrets were sealed: sealed again at the next save.
            return Ok(stored.to_string());
        };
        let fail = || SecretsError::Open(name.to_string());
        let bytes = from_hex(hex).ok_or_else(fail)?;
        if bytes.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(name).as_bytes()), &mut data)
            .map_err(|_| fail())?;
        String::from_utf8(plain.to_vec()).map_err(|_| fail())
    }

    /// `spec` (as sent, every value plain) as it is stored: its secret header values sealed.
    pub fn seal_spec(&self, spec: &WebhookSpec) -> WebhookSpec {
        let mut out = spec.clone();
        for (name, value) in out.headers.iter_mut() {
            if is_secret(spec, name) {
                *value = self.seal(name, value);
            }
        }
        out
    }

    /// A stored `spec` with its secret header values opened.
    pub fn open_spec(&self, spec: &WebhookSpec) -> Result<WebhookSpec, SecretsError> {
        let mut out = spec.clone();
        for (name, value) in out.headers.iter_mut() {
            if is_secret(spec, name) {
                *value = self.open(name, value)?;
            }
        }
        Ok(out)
    }
}

fn aad(name: &str) -> String {
    format!("hookline header {}", name.to_ascii_lowercase())
}

/// Whether header `name` of `spec` holds a secret.
pub fn is_secret(spec: &WebhookSpec, name: &str) -> bool {
    crate::delivery::is_secret_header(name)
        || spec
            .secret_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
}

/// `spec` as the API shows it: secret header values and the URL's password as [`MASK`].
pub fn masked_spec(spec: &WebhookSpec) -> WebhookSpec {
    let mut out = spec.clone();
    for (name, value) in out.headers.iter_mut() {
        if is_secret(spec, name) {
            *value = MASK.to_string();
        }
    }
    out.url = mask_url(&spec.url);
    out
}

/// A new definition of a webhook with the stored secrets in place of the masks it was sent
/// with (a definition read from the API and sent back); errors name a mask with nothing stored
/// behind it.
pub fn unmask(new: &mut WebhookSpec, stored: &WebhookSpec) -> Result<(), (String, String)> {
    for (name, value) in new.headers.iter_mut() {
        if value != MASK {
            continue;
        }
        match stored
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, old)) => *value = old.clone(),
            None => {
                return Err((
                    format!("headers.{name}"),
                    format!(
                        "{MASK} stands for a stored secret, and this webhook has none for {name}"
                    ),
                ));
            }
        }
    }
    if let Some((before, after)) = split_password(&new.url)
        && &new.url[before..after] == MASK
    {
        let old = split_password(&stored.url).map(|(b, a)| &stored.url[b..a]);
        match old {
            Some(old) => new.url = format!("{}{old}{}", &new.url[..before], &new.url[after..]),
            None => {
                return Err((
                    "url".into(),
                    format!("{MASK} stands for the stored URL's password, and it has none"),
                ));
            }
        }
    }
    Ok(())
}

/// The byte range of the password in a URL's `user:password@`, if it has one.
fn split_password(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |n| start + n);
    let at = url[start..end].rfind('@')? + start;
    let colon = url[start..at].find(':')? + start;
    Some((colon + 1, at))
}

/// `url` with the password of its `user:password@` shown as [`MASK`].
pub fn mask_url(url: &str) -> String {
    match split_password(url) {
        Some((start, end)) => format!("{}{MASK}{}", &url[..start], &url[end..]),
        None => url.to_string(),
    }
}

fn read_or_create(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; KEY_LEN];
            SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| std::io::Error::other("no random source"))?;
            let hex = to_hex(&bytes);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            use std::io::Write;
            let mut file = options.open(path)?;
            file.write_all(format!("{hex}\n").as_bytes())?;
            file.sync_all()?;
            tracing::info!(file = %path.display(), "created the secrets key file; keep it with the database's backups, apart from them");
            Ok(hex)
        }
        Err(e) => Err(e),
    }
}

/// `bytes` in lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(headers: &[(&str, &str)], url: &str) -> WebhookSpec {
        WebhookSpec::from_json(&serde_json::json!({
            "name": "w", "events": ["k"], "url": url,
            "headers": headers.iter().map(|(n, v)| (n.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "secret_headers": ["X-Custom"],
        }))
        .unwrap()
    }

    #[test]
    fn secret_values_are_sealed_and_open_only_with_their_key_and_name() {
        let sealer = Sealer::ephemeral();
        let plain = spec(
            &[
                ("Authorization", "Bearer s1"),
                ("X-Custom", "s2"),
                ("X-Plain", "p"),
            ],
            "https://h.test/",
        );
        let stored = sealer.seal_spec(&plain);
        let text = serde_json::to_string(&stored).unwrap();
        assert!(!text.contains("s1") && !text.contains("\"s2\""), "{text}");
        assert!(text.contains("\"p\""));
        assert_eq!(sealer.open_spec(&stored).unwrap(), plain);
        // Two seals of one value differ (random nonces); a value sent looking sealed is sealed
        // like any other, and opens as sent.
        assert_ne!(sealer.seal_spec(&plain).headers, stored.headers);
        let mut lookalike = plain.clone();
        lookalike
            .headers
            .insert("X-Custom".into(), "sealed:v1:00".into());
        let sealed = sealer.seal_spec(&lookalike);
        assert_ne!(sealed.headers["X-Custom"], "sealed:v1:00");
        assert_eq!(sealer.open_spec(&sealed).unwrap(), lookalike);
        // Another key, or the value moved under another header's name, does not open.
        assert!(Sealer::ephemeral().open_spec(&stored).is_err());
        let mut moved = stored.clone();
        let auth = moved.headers["Authorization"].clone();
        moved.headers.insert("X-Custom".into(), auth);
        assert!(sealer.open_spec(&moved).is_err());
    }

    #[test]
    fn masks_show_nothing_and_a_definition_sent_back_keeps_its_secrets() {
        let stored = spec(
            &[("Authorization", "Bearer s1"), ("X-Custom", "s2")],
            "https://u:pw@h.test/p?q=1",
        );
        let shown = masked_spec(&stored);
        assert_eq!(shown.headers["Authorization"], MASK);
        assert_eq!(shown.headers["X-Custom"], MASK);
        assert_eq!(shown.url, format!("https://u:{MASK}@h.test/p?q=1"));
        let mut back = shown.clone();
        unmask(&mut back, &stored).unwrap();
        assert_eq!(back, stored);
        let mut none = spec(&[("X-Custom", MASK)], "https://h.test/");
        none.headers.insert("X-New".into(), MASK.into());
        assert_eq!(unmask(&mut none, &stored).unwrap_err().0, "headers.X-New");
        assert_eq!(mask_url("https://h.test/a@b"), "https://h.test/a@b");
        assert_eq!(mask_url("http://u@h.test/"), "http://u@h.test/");
    }
}
