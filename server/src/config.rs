//! `hookline serve`'s configuration: embedded defaults, then a file, then environment variables.
//!
//! Every key and its default is in `config.default.toml` (embedded, commented). A file and the
//! environment may only set keys that exist there, so a typo is an error naming the key instead
//! of a silently ignored setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use toml::{Table, Value};

use crate::template::Limits;

/// The default configuration, every key commented: `hookline serve --print-config` prints it.
pub const DEFAULT_TOML: &str = include_str!("config.default.toml");

/// Why the configuration is refused; always names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    /// A key that hookline does not know; `hint` names the closest one it does.
    #[error("unknown config key `{key}` (from {origin}){hint}")]
    UnknownKey {
        key: String,
        origin: String,
        hint: String,
    },
    /// A `HOOKLINE_*` environment variable that names no config key (a typo would otherwise be
    /// ignored while the file's typos stop the start).
    #[error("unknown environment variable `{name}`: it names no config key{hint}")]
    UnknownVariable { name: String, hint: String },
    /// A key whose value does not fit.
    #[error("config key `{key}` (from {origin}): {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
}

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`.
    Sqlite(PathBuf),
}

/// How retry delays are spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform between zero and the scheduled delay.
    Full,
    /// Exactly the scheduled delay.
    None,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseUrl,
    /// Every commit fsynced before it is acknowledged.
    pub sync_commits: bool,
    pub site: Option<PathBuf>,
    pub max_body_bytes: usize,
    /// Never printed.
    pub admin_key: Option<Secret>,
    pub secrets: SecretsConfig,
    pub limits: LimitsConfig,
    pub bridge: BridgeConfig,
    pub delivery: DeliveryConfig,
    /// The render budget of each webhook render.
    pub templates: Limits,
    pub retry: RetryConfig,
    pub disable: DisableConfig,
    pub logs: LogsConfig,
    pub retention: RetentionConfig,
}

/// A secret from the configuration: its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the key that seals secrets at rest comes from (`[secrets]`).
#[derive(Debug, Clone, Default)]
pub struct SecretsConfig {
    /// 64 hex digits; `None`: from `key_file`.
    pub key: Option<Secret>,
    /// `None`: `DATABASE.key` beside an SQLite database.
    pub key_file: Option<PathBuf>,
}

/// Bounds on what one client can make the server hold or do (`[limits]`).
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_batch_events: usize,
    pub max_id_chars: usize,
    pub max_kind_chars: usize,
    pub max_webhooks_per_app: usize,
    pub max_template_bytes: usize,
}

/// Rate limits of the public browser bridge (`[bridge]`); a rate of 0 is no limit.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub rate_per_client: u32,
    pub burst_per_client: u32,
    pub rate_per_app: u32,
    pub burst_per_app: u32,
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub concurrency_per_webhook: usize,
    pub queue_per_webhook: usize,
    pub queue_in_memory: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
    pub max_response_bytes: usize,
    /// Networks delivered to even when the address guard blocks them.
    pub allow_networks: Vec<IpNet>,
}

#[derive(Debug, Clone)]
pub struct RetryConfig {
    pub schedule: Vec<Duration>,
    pub jitter: Jitter,
    pub max_retry_after: Duration,
}

#[derive(Debug, Clone)]
pub struct DisableConfig {
    pub failure_threshold: u32,
    pub failure_window: Duration,
    pub consecutive_failures: u32,
    pub on_gone: bool,
}

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// 0: keep everything.
    pub max_age: Duration,
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct LogsConfig {
    pub success_sample_rate: u32,
    pub success_max_per_second: u32,
    pub max_per_webhook: u32,
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        let table = defaults();
        // The embedded defaults are checked by a unit test, so this cannot fail at run time.
        Config::from_table(&table, &|_| "defaults".to_string())
            .expect("embedded defaults are valid")
    }
}

fn defaults() -> Table {
    DEFAULT_TOML
        .parse::<Table>()
        .expect("embedded config.default.toml is valid TOML")
}

impl Config {
    /// Defaults, then `file` (when given), then environment variables read through `env`
    /// (`std::env::var` in production; a map in tests).
    pub fn load(
        file: Option<&std::path::Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut table = defaults();
        let mut origins: std::collections::HashMap<String, String> = Default::default();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: shown.clone(),
                source,
            })?;
            let overlay = text.parse::<Table>().map_err(|e| ConfigError::Syntax {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            merge(&mut table, &overlay, "", &shown, &mut origins)?;
        }
        let keys: Vec<(String, Value)> = leaf_keys(&defaults(), "");
        for (key, default) in keys {
            let var = env_name(&key);
            if let Some(text) = env(&var) {
                let value = from_env_text(&text, &default);
                set_key(&mut table, &key, value);
                origins.insert(key, var);
            }
        }
        Config::from_table(&table, &|key| {
            origins
                .get(key)
                .cloned()
                .unwrap_or_else(|| "defaults".to_string())
        })
    }

    fn from_table(table: &Table, origin: &dyn Fn(&str) -> String) -> Result<Config, ConfigError> {
        let r = Reader { table, origin };
        let database = r.string("database")?;
        let database = match database.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => DatabaseUrl::Sqlite(PathBuf::from(path)),
            _ => return Err(r.invalid("database", "expected `sqlite://PATH`".into())),
        };
        let site = r.string("site")?;
        let admin_key = r.string("admin_key")?;
        let listen = r.string("listen")?;
        let jitter = match r.string("retry.jitter")?.as_str() {
            "full" => Jitter::Full,
            "none" => Jitter::None,
            other => {
                return Err(r.invalid(
                    "retry.jitter",
                    format!("expected \"full\" or \"none\", got {other:?}"),
                ));
            }
        };
        let schedule_values = match r.get("retry.schedule") {
            Some(Value::Array(items)) => items.clone(),
            _ => return Err(r.invalid("retry.schedule", "expected a list of durations".into())),
        };
        let mut schedule = Vec::new();
        for item in &schedule_values {
            let text = item.as_str().ok_or_else(|| {
                r.invalid("retry.schedule", "expected a list of durations".into())
            })?;
            schedule.push(parse_duration(text).map_err(|m| r.invalid("retry.schedule", m))?);
        }
        let config = Config {
            listen: listen.parse().map_err(|_| {
                r.invalid(
                    "listen",
                    format!("{listen:?} is not an address like 127.0.0.1:8080"),
                )
            })?,
            database,
            sync_commits: r.boolean("sync_commits")?,
            site: (!site.is_empty()).then(|| PathBuf::from(site)),
            max_body_bytes: r.positive("max_body_bytes")?,
            admin_key: (!admin_key.is_empty()).then_some(Secret(admin_key)),
            secrets: {
                let key = r.string("secrets.key")?;
                let key_file = r.string("secrets.key_file")?;
                SecretsConfig {
                    key: (!key.is_empty()).then_some(Secret(key)),
                    key_file: (!key_file.is_empty()).then(|| PathBuf::from(key_file)),
                }
            },
            limits: LimitsConfig {
                max_connections: r.positive("limits.max_connections")?,
                header_timeout: r.duration("limits.header_timeout")?,
                body_timeout: r.duration("limits.body_timeout")?,
                max_batch_events: r.positive("limits.max_batch_events")?,
                max_id_chars: r.positive("limits.max_id_chars")?,
                max_kind_chars: r.positive("limits.max_kind_chars")?,
                max_webhooks_per_app: r.positive("limits.max_webhooks_per_app")?,
                max_template_bytes: r.positive("limits.max_template_bytes")?,
            },
            bridge: BridgeConfig {
                rate_per_client: r.integer("bridge.rate_per_client")? as u32,
                burst_per_client: r.positive("bridge.burst_per_client")? as u32,
                rate_per_app: r.integer("bridge.rate_per_app")? as u32,
                burst_per_app: r.positive("bridge.burst_per_app")? as u32,
            },
            delivery: DeliveryConfig {
                request_timeout: r.duration("delivery.request_timeout")?,
                connect_timeout: r.duration("delivery.connect_timeout")?,
                concurrency_per_webhook: r.positive("delivery.concurrency_per_webhook")?,
                queue_per_webhook: r.positive("delivery.queue_per_webhook")?,
                queue_in_memory: r.positive("delivery.queue_in_memory")?,
                lease: r.duration("delivery.lease")?,
                poll_interval: r.duration("delivery.poll_interval")?,
                shutdown_grace: r.duration("delivery.shutdown_grace")?,
                max_response_bytes: r.integer("delivery.max_response_bytes")? as usize,
                allow_networks: r.networks("delivery.allow_networks")?,
            },
            templates: Limits {
                max_loop_iterations: r.positive("templates.max_loop_iterations")? as u64,
                max_output_bytes: r.positive("templates.max_output_bytes")?,
                max_value_bytes: r.positive("templates.max_value_bytes")?,
            },
            retry: RetryConfig {
                schedule,
                jitter,
                max_retry_after: r.duration("retry.max_retry_after")?,
            },
            disable: DisableConfig {
                failure_threshold: r.integer("disable.failure_threshold")? as u32,
                failure_window: r.duration("disable.failure_window")?,
                consecutive_failures: r.integer("disable.consecutive_failures")? as u32,
                on_gone: r.boolean("disable.on_gone")?,
            },
            logs: LogsConfig {
                success_sample_rate: r.integer("logs.success_sample_rate")? as u32,
                success_max_per_second: r.integer("logs.success_max_per_second")? as u32,
                max_per_webhook: r.integer("logs.max_per_webhook")? as u32,
                max_body_bytes: r.integer("logs.max_body_bytes")? as usize,
            },
            retention: RetentionConfig {
                max_age: r.duration("retention.max_age")?,
                interval: r.duration("retention.interval")?,
            },
        };
        if config.delivery.lease < config.delivery.request_timeout * 2 {
            return Err(r.invalid(
                "delivery.lease",
                "must be at least twice delivery.request_timeout".into(),
            ));
        }
        for (key, timeout) in [
            ("limits.header_timeout", config.limits.header_timeout),
            ("limits.body_timeout", config.limits.body_timeout),
        ] {
            if timeout.is_zero() {
                return Err(r.invalid(key, "must be more than 0".into()));
            }
        }
        if config.retention.interval.is_zero() {
            return Err(r.invalid("retention.interval", "must be more than 0".into()));
        }
        if config.delivery.poll_interval.is_zero() {
            return Err(r.invalid("delivery.poll_interval", "must be more than 0".into()));
        }
        Ok(config)
    }
}

/// `HOOKLINE_*` variables that are not config keys: the binary's own, and those hookline's
/// scripts and benchmarks export, which a server they start inherits.
const OTHER_VARIABLES: &[&str] = &[
    "HOOKLINE_CONFIG",
    "HOOKLINE_LOG",
    "HOOKLINE_ROOT",
    "HOOKLINE_BIN",
    "HOOKLINE_DIST",
    "HOOKLINE_SETUP_UNDER_TEST",
    "HOOKLINE_DEMO_PORT",
    "HOOKLINE_DEMO_RECEIVER_PORT",
];

/// Refuses a `HOOKLINE_*` variable among `names` that is neither a config key's nor one of
/// [`OTHER_VARIABLES`] (benchmarks' `HOOKLINE_BENCH_*` aside), naming the closest known one.
pub fn check_env_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), ConfigError> {
    let known: Vec<String> = leaf_keys(&defaults(), "")
        .into_iter()
        .map(|(key, _)| env_name(&key))
        .chain(OTHER_VARIABLES.iter().map(|n| (*n).to_owned()))
        .collect();
    for name in names {
        if !name.starts_with("HOOKLINE_")
            || name.starts_with("HOOKLINE_BENCH_")
            || known.iter().any(|k| k == name)
        {
            continue;
        }
        return Err(ConfigError::UnknownVariable {
            name: name.to_owned(),
            hint: did_you_mean(name, known.iter().map(String::as_str)),
        });
    }
    Ok(())
}

/// `: did you mean `x`?` for the known name closest to `name` (by edit distance, when it is
/// close enough to be a typo), or nothing.
fn did_you_mean<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let best = known
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), k))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= (name.len() / 3).max(2) => format!(": did you mean `{k}`?"),
        _ => String::new(),
    }
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `delivery.request_timeout` → `HOOKLINE_DELIVERY_REQUEST_TIMEOUT`.
pub fn env_name(key: &str) -> String {
    format!("HOOKLINE_{}", key.replace('.', "_").to_uppercase())
}

/// Parses `250ms`, `5s`, `5m`, `2h`, `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 5s, 250ms, 5m, 2h"))?;
    let unit_ms: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?} is not a duration like 5s, 250ms, 5m, 2h")),
    };
    // At most 100 years: more is a mistake, and would overflow the arithmetic done with it.
    const MAX_MS: u64 = 100 * 365 * 86_400_000;
    match n.checked_mul(unit_ms) {
        Some(ms) if ms <= MAX_MS => Ok(Duration::from_millis(ms)),
        _ => Err(format!("{text:?} is longer than 100 years")),
    }
}

/// Parses `10.0.0.0/8`, `fd00::/8`, or one address (`10.0.0.5`, a network of one). A network
/// with bits set past its prefix (`10.1.0.0/8`) is refused: it is probably a typo for another
/// prefix length.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    if let Ok(address) = text.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(address));
    }
    let net: IpNet = text.parse().map_err(|_| {
        format!("{text:?} is not a network like 10.0.0.0/8 or fd00::/8, nor an address")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has bits set past its prefix length: did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
}

struct Reader<'a> {
    table: &'a Table,
    origin: &'a dyn Fn(&str) -> String,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        let mut table = self.table;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let value = table.get(part)?;
            if parts.peek().is_none() {
                return Some(value);
            }
            table = value.as_table()?;
        }
        None
    }
    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_string(),
            origin: (self.origin)(key),
            message,
        }
    }
    fn string(&self, key: &str) -> Result<String, ConfigError> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(self.invalid(key, "expected a string".into())),
        }
    }
    fn integer(&self, key: &str) -> Result<u64, ConfigError> {
        match self.get(key) {
            Some(Value::Integer(n)) if *n >= 0 => Ok(*n as u64),
            _ => Err(self.invalid(key, "expected a whole number, 0 or more".into())),
        }
    }
    fn positive(&self, key: &str) -> Result<usize, ConfigError> {
        match self.integer(key)? {
            0 => Err(self.invalid(key, "must be more than 0".into())),
            n => Ok(n as usize),
        }
    }
    fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        match self.get(key) {
            Some(Value::Boolean(b)) => Ok(*b),
            _ => Err(self.invalid(key, "expected true or false".into())),
        }
    }
    /// A list of networks, each a CIDR (`10.0.0.0/8`) or a single address (`10.0.0.5`).
    fn networks(&self, key: &str) -> Result<Vec<IpNet>, ConfigError> {
        let expected = || {
            self.invalid(
                key,
                "expected a list of networks like \"10.0.0.0/8\"".into(),
            )
        };
        let Some(Value::Array(items)) = self.get(key) else {
            return Err(expected());
        };
        items
            .iter()
            .map(|item| {
                let text = item.as_str().ok_or_else(expected)?.trim();
                parse_network(text).map_err(|m| self.invalid(key, m))
            })
            .collect()
    }
    fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        let text = self
            .string(key)
            .map_err(|_| self.invalid(key, "expected a duration like \"5s\"".into()))?;
        parse_duration(&text).map_err(|m| self.invalid(key, m))
    }
}

/// Every non-table key of `table`, dotted, with its value.
fn leaf_keys(table: &Table, prefix: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) => out.extend(leaf_keys(t, &key)),
            _ => out.push((key, v.clone())),
        }
    }
    out
}

fn merge(
    base: &mut Table,
    overlay: &Table,
    prefix: &str,
    origin: &str,
    origins: &mut std::collections::HashMap<String, String>,
) -> Result<(), ConfigError> {
    for (k, v) in overlay {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o, &key, origin, origins)?,
            (Some(Value::Table(_)), _) => {
                return Err(ConfigError::Invalid {
                    key,
                    origin: origin.to_string(),
                    message: "expected a section".into(),
                });
            }
            (Some(slot), value) => {
                *slot = value.clone();
                origins.insert(key, origin.to_string());
            }
            (None, _) => {
                let known: Vec<String> = leaf_keys(&defaults(), "")
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                return Err(ConfigError::UnknownKey {
                    hint: did_you_mean(&key, known.iter().map(String::as_str)),
                    key,
                    origin: origin.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn set_key(table: &mut Table, key: &str, value: Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut t = table;
    for part in parts {
        match t.get_mut(part) {
            Some(Value::Table(inner)) => t = inner,
            _ => return,
        }
    }
    t.insert(last.to_string(), value);
}

/// An environment variable's text, typed like the key's default so that validation reports a
/// wrong type against the key's name.
fn from_env_text(text: &str, default: &Value) -> Value {
    match default {
        Value::Integer(_) => text
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .unwrap_or(Value::String(text.into())),
        Value::Boolean(_) => match text.trim() {
            "true" | "1" | "yes" => Value::Boolean(true),
            "false" | "0" | "no" => Value::Boolean(false),
            _ => Value::String(text.into()),
        },
        Value::Array(_) => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn durations_past_a_century_are_refused_not_overflowed() {
        assert_eq!(
            parse_duration("36500d"),
            Ok(Duration::from_secs(36500 * 86_400))
        );
        assert_eq!(
            parse_duration("48441451983843h"),
            Err("\"48441451983843h\" is longer than 100 years".to_owned())
        );
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn typos_stop_the_start_naming_the_closest_key() {
        let e = check_env_names(["PATH", "HOOKLINE_DELIVERY_REQUEST_TIMOUT"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown environment variable `HOOKLINE_DELIVERY_REQUEST_TIMOUT`: it names no config \
             key: did you mean `HOOKLINE_DELIVERY_REQUEST_TIMEOUT`?"
        );
        let e = check_env_names(["HOOKLINE_NOTHING_LIKE_ANY_KEY_AT_ALL"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown environment variable `HOOKLINE_NOTHING_LIKE_ANY_KEY_AT_ALL`: it names no config key"
        );
        // Every key's variable, the binary's own and the scripts' pass.
        let every: Vec<String> = leaf_keys(&defaults(), "")
            .into_iter()
            .map(|(k, _)| env_name(&k))
            .collect();
        check_env_names(every.iter().map(String::as_str)).expect("every key's variable");
        check_env_names([
            "HOOKLINE_CONFIG",
            "HOOKLINE_LOG",
            "HOOKLINE_BENCH_EVENTS",
            "HOME",
        ])
        .expect("not config keys, known");
        // The file's typos name the closest key too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookline.toml");
        std::fs::write(&path, "[delivery]\nrequest_timout = \"5s\"\n").unwrap();
        let e = Config::load(Some(&path), &env_of(&[])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown config key `delivery.request_timout` (from ")
                && e.to_string()
                    .ends_with("): did you mean `delivery.request_timeout`?"),
            "{e}"
        );
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let c = Config::load(None, &env_of(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database, DatabaseUrl::Sqlite("hookline.db".into()));
        assert_eq!(c.delivery.request_timeout, Duration::from_secs(15));
        assert_eq!(c.retry.schedule.len(), 6);
        assert_eq!(c.disable.failure_threshold, 300);
        // Every key is commented: the line before each `key =` is a comment or another key's.
        let lines: Vec<&str> = DEFAULT_TOML.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(
                    lines[i - 1].starts_with('#'),
                    "key without a comment: {line}"
                );
            }
        }
    }

    #[test]
    fn env_over_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\n[retry]\nschedule = [\"1s\"]\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            &env_of(&[("HOOKLINE_LISTEN", "127.0.0.1:9001")]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.retry.schedule, vec![Duration::from_secs(1)]);
        let c = Config::load(
            Some(&path),
            &env_of(&[("HOOKLINE_RETRY_SCHEDULE", "10ms, 20ms")]),
        )
        .unwrap();
        assert_eq!(
            c.retry.schedule,
            vec![Duration::from_millis(10), Duration::from_millis(20)]
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::load(
            None,
            &env_of(&[("HOOKLINE_DELIVERY_REQUEST_TIMEOUT", "soon")]),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("delivery.request_timeout")
                && text.contains("HOOKLINE_DELIVERY_REQUEST_TIMEOUT"),
            "{text}"
        );
        let e = Config::load(
            None,
            &env_of(&[("HOOKLINE_DELIVERY_CONCURRENCY_PER_WEBHOOK", "many")]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("delivery.concurrency_per_webhook"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[delivery]\nrequest_timeot = \"1s\"\n").unwrap();
        let e = Config::load(Some(&path), &env_of(&[])).unwrap_err();
        assert!(e.to_string().contains("delivery.request_timeot"), "{e}");
        let e = Config::load(None, &env_of(&[("HOOKLINE_DATABASE", "postgres://x")])).unwrap_err();
        assert!(e.to_string().contains("`database`"), "{e}");
    }

    #[test]
    fn allow_networks_from_a_file_and_the_environment() {
        let c = Config::load(None, &env_of(&[])).unwrap();
        assert!(c.delivery.allow_networks.is_empty());
        let c = Config::load(
            None,
            &env_of(&[(
                "HOOKLINE_DELIVERY_ALLOW_NETWORKS",
                "127.0.0.0/8, fd00::/8,10.0.0.5,::1",
            )]),
        )
        .unwrap();
        let shown: Vec<String> = c
            .delivery
            .allow_networks
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["127.0.0.0/8", "fd00::/8", "10.0.0.5/32", "::1/128"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[delivery]\nallow_networks = [\"10.1.0.0/16\"]\n").unwrap();
        let c = Config::load(Some(&path), &env_of(&[])).unwrap();
        assert_eq!(c.delivery.allow_networks[0].to_string(), "10.1.0.0/16");
    }

    #[test]
    fn a_bad_network_names_the_key() {
        for (text, says) in [
            ("10.0.0.0/33", "is not a network like 10.0.0.0/8"),
            ("10.0.0/8", "is not a network like 10.0.0.0/8"),
            ("localhost", "is not a network like 10.0.0.0/8"),
            ("10.1.0.0/8", "did you mean 10.0.0.0/8?"),
        ] {
            let e = Config::load(None, &env_of(&[("HOOKLINE_DELIVERY_ALLOW_NETWORKS", text)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("`delivery.allow_networks`")
                    && e.contains("HOOKLINE_DELIVERY_ALLOW_NETWORKS")
                    && e.contains(says),
                "{text}: {e}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[delivery]\nallow_networks = \"10.0.0.0/8\"\n").unwrap();
        let e = Config::load(Some(&path), &env_of(&[])).unwrap_err();
        assert!(
            e.to_string().contains("`delivery.allow_networks`")
                && e.to_string().contains("expected a list of networks"),
            "{e}"
        );
    }

    #[test]
    fn the_render_budget() {
        let c = Config::load(None, &env_of(&[])).unwrap();
        assert_eq!(c.templates, Limits::default());
        let c = Config::load(
            None,
            &env_of(&[("HOOKLINE_TEMPLATES_MAX_LOOP_ITERATIONS", "500")]),
        )
        .unwrap();
        assert_eq!(c.templates.max_loop_iterations, 500);
        let e = Config::load(
            None,
            &env_of(&[("HOOKLINE_TEMPLATES_MAX_OUTPUT_BYTES", "0")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`templates.max_output_bytes`") && e.contains("must be more than 0"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
    }
}
