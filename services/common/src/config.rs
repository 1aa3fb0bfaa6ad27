//! The declarative configuration, parsed once from TOML into typed values and validated.
//!
//! The `[sip]` table and `[[employees]]` entries are a contract: later versions add fields
//! and tables but never rename these. Unknown fields are rejected so a typo is an error that
//! names the field instead of a silently ignored setting.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use crate::ids::{EmployeeId, Extension};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub employees: Vec<Employee>,
}

/// `[api]`: the gRPC API (integrators, admin console, health and reflection).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "defaults::api_listen")]
    pub listen: SocketAddr,
    /// Prometheus scrape endpoint (plain HTTP, any path).
    #[serde(default = "defaults::metrics_listen")]
    pub metrics_listen: SocketAddr,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: defaults::api_listen(),
            metrics_listen: defaults::metrics_listen(),
        }
    }
}

/// `[sip]`: the front door.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// One address for UDP and TCP.
    pub listen: SocketAddr,
    /// The SIP domain of the organisation (registrations are for `ext@domain`).
    pub domain: String,
    /// Digest realm; the domain when absent.
    #[serde(default)]
    pub realm: Option<String>,
    /// Secret for stateless nonces; nodes of one cluster share it. Random per process when absent.
    #[serde(default)]
    pub nonce_secret: Option<String>,
    /// Digest algorithms offered, in challenge order. MD5 first by default: SIPp and many
    /// desk phones answer the first challenge even when they cannot compute it.
    #[serde(default = "defaults::digest_algorithms")]
    pub digest_algorithms: Vec<String>,
    #[serde(default = "defaults::nonce_ttl_secs")]
    pub nonce_ttl_secs: u64,
    /// Largest accepted message; bigger ones are answered 513.
    #[serde(default = "defaults::max_message_bytes")]
    pub max_message_bytes: usize,
    /// RFC 3261 timer T1 in milliseconds (T2 and T4 follow).
    #[serde(default = "defaults::t1_ms")]
    pub t1_ms: u64,
    #[serde(default = "defaults::t2_ms")]
    pub t2_ms: u64,
    #[serde(default = "defaults::t4_ms")]
    pub t4_ms: u64,
    #[serde(default = "defaults::min_expires")]
    pub min_expires: u32,
    #[serde(default = "defaults::max_expires")]
    pub max_expires: u32,
    #[serde(default = "defaults::default_expires")]
    pub default_expires: u32,
    #[serde(default = "defaults::max_contacts_per_aor")]
    pub max_contacts_per_aor: usize,
    /// Failed authentications from one source address before it is blocked.
    #[serde(default = "defaults::auth_failures_before_block")]
    pub auth_failures_before_block: u32,
    /// How long (seconds) a blocked source is ignored.
    #[serde(default = "defaults::auth_block_secs")]
    pub auth_block_secs: u64,
    /// Messages waiting for the SIP core; beyond this, new requests get 503.
    #[serde(default = "defaults::queue_depth")]
    pub queue_depth: usize,
    #[serde(default = "defaults::max_tcp_connections")]
    pub max_tcp_connections: usize,
    /// Live SIP server transactions (each lives up to 32 s on UDP); beyond this, 503.
    #[serde(default = "defaults::max_transactions")]
    pub max_transactions: usize,
}

mod defaults {
    pub fn metrics_listen() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 9464))
    }
    pub fn api_listen() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 7070))
    }
    pub fn digest_algorithms() -> Vec<String> {
        vec!["MD5".into(), "SHA-256".into()]
    }
    pub fn nonce_ttl_secs() -> u64 {
        300
    }
    pub fn max_message_bytes() -> usize {
        16 * 1024
    }
    pub fn t1_ms() -> u64 {
        500
    }
    pub fn t2_ms() -> u64 {
        4000
    }
    pub fn t4_ms() -> u64 {
        5000
    }
    pub fn min_expires() -> u32 {
        60
    }
    pub fn max_expires() -> u32 {
        7200
    }
    pub fn default_expires() -> u32 {
        3600
    }
    pub fn max_contacts_per_aor() -> usize {
        10
    }
    pub fn auth_failures_before_block() -> u32 {
        10
    }
    pub fn auth_block_secs() -> u64 {
        300
    }
    pub fn queue_depth() -> usize {
        8192
    }
    pub fn max_transactions() -> usize {
        50_000
    }
    pub fn max_tcp_connections() -> usize {
        10_000
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

/// `[[employees]]`: a person who answers calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Employee {
    pub id: EmployeeId,
    pub name: String,
    /// Internal extension, also the SIP user name for REGISTER.
    pub extension: Extension,
    pub sip_password: String,
    pub role: Role,
    #[serde(default)]
    pub mobile: Option<String>,
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text)
    }

    pub fn realm(&self) -> &str {
        self.sip.realm.as_deref().unwrap_or(&self.sip.domain)
    }

    pub fn employee_by_extension(&self, ext: &str) -> Option<&Employee> {
        self.employees.iter().find(|e| e.extension.as_str() == ext)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let sip = &self.sip;
        if sip.domain.is_empty()
            || !sip
                .domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(invalid(
                "sip.domain",
                format!("{:?} is not a domain name", sip.domain),
            ));
        }
        const ALGORITHMS: [&str; 4] = ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"];
        if sip.digest_algorithms.is_empty() {
            return Err(invalid(
                "sip.digest_algorithms",
                "offer at least one algorithm",
            ));
        }
        for a in &sip.digest_algorithms {
            if !ALGORITHMS.iter().any(|k| k.eq_ignore_ascii_case(a)) {
                return Err(invalid(
                    "sip.digest_algorithms",
                    format!("{a:?} is not one of {}", ALGORITHMS.join(", ")),
                ));
            }
        }
        if sip.t1_ms == 0 || sip.t2_ms < sip.t1_ms {
            return Err(invalid(
                "sip.t2_ms",
                "T1 must be positive and T2 at least T1",
            ));
        }
        if sip.min_expires > sip.max_expires
            || sip.default_expires < sip.min_expires
            || sip.default_expires > sip.max_expires
        {
            return Err(invalid(
                "sip.default_expires",
                "need min_expires <= default_expires <= max_expires",
            ));
        }
        if sip.max_message_bytes < 1024 || sip.max_message_bytes > 1 << 20 {
            return Err(invalid(
                "sip.max_message_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        if sip.queue_depth == 0
            || sip.max_contacts_per_aor == 0
            || sip.max_tcp_connections == 0
            || sip.max_transactions == 0
        {
            return Err(invalid(
                "sip",
                "queue_depth, max_contacts_per_aor, max_tcp_connections and max_transactions must be positive",
            ));
        }
        let mut ids = HashSet::new();
        let mut exts = HashSet::new();
        for (i, e) in self.employees.iter().enumerate() {
            let field = |f: &str| format!("employees[{i}].{f}");
            if e.id.0.is_empty() {
                return Err(invalid(field("id"), "must not be empty"));
            }
            if !ids.insert(&e.id) {
                return Err(invalid(field("id"), format!("{:?} is used twice", e.id.0)));
            }
            let ext = e.extension.as_str();
            if ext.is_empty()
                || ext.len() > 32
                || !ext
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            {
                return Err(invalid(
                    field("extension"),
                    format!("{ext:?} must be 1-32 letters, digits, '.', '-' or '_'"),
                ));
            }
            if !exts.insert(ext) {
                return Err(invalid(
                    field("extension"),
                    format!("{ext:?} is used twice"),
                ));
            }
            if e.sip_password.len() < 4 {
                return Err(invalid(
                    field("sip_password"),
                    "must be at least 4 characters",
                ));
            }
            if let Some(m) = &e.mobile {
                let digits = m.strip_prefix('+').unwrap_or(m);
                if digits.len() < 3
                    || digits.len() > 20
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(invalid(
                        field("mobile"),
                        format!("{m:?} is not a phone number (digits, optional leading +)"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The built-in demo organisation used by `ccd all` without `--config`.
pub const DEMO_TOML: &str = r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"

[[employees]]
id = "anna"
name = "Anna Kowalska"
extension = "201"
sip_password = "anna-secret"
role = "admin"
mobile = "+48600100200"

[[employees]]
id = "piotr"
name = "Piotr Nowak"
extension = "202"
sip_password = "piotr-secret"
role = "user"

[[employees]]
id = "maria"
name = "Maria Wisniewska"
extension = "203"
sip_password = "maria-secret"
role = "user"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_valid() {
        let c = Config::from_toml(DEMO_TOML).unwrap();
        assert_eq!(c.employees.len(), 3);
        assert_eq!(c.realm(), "cc.local");
        assert_eq!(c.sip.t1_ms, 500);
        assert_eq!(c.employee_by_extension("202").unwrap().id.as_str(), "piotr");
    }

    #[test]
    fn unknown_field_is_named() {
        let err =
            Config::from_toml("[sip]\nlisten = \"127.0.0.1:5060\"\ndomain = \"x\"\nlistn = 1\n")
                .unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn wrong_values_name_the_field() {
        let base = "[sip]\nlisten = \"127.0.0.1:5060\"\ndomain = \"cc.local\"\n";
        let cases = [
            (
                "[[employees]]\nid='a'\nname='A'\nextension='2 01'\nsip_password='secret'\nrole='user'\n",
                "employees[0].extension",
            ),
            (
                "[[employees]]\nid='a'\nname='A'\nextension='201'\nsip_password='secret'\nrole='boss'\n",
                "role",
            ),
            (
                "[[employees]]\nid='a'\nname='A'\nextension='201'\nsip_password='secret'\nrole='user'\nmobile='call me'\n",
                "employees[0].mobile",
            ),
            (
                "[[employees]]\nid='a'\nname='A'\nextension='201'\nsip_password='secret'\nrole='user'\n[[employees]]\nid='b'\nname='B'\nextension='201'\nsip_password='secret'\nrole='user'\n",
                "employees[1].extension",
            ),
        ];
        for (extra, field) in cases {
            let err = Config::from_toml(&format!("{base}{extra}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{field} not named in {err}");
        }
        let err =
            Config::from_toml("[sip]\nlisten = \"nowhere\"\ndomain = \"cc.local\"\n").unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
    }
}
