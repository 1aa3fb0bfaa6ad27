//! The declarative configuration, parsed once from TOML into typed values and validated.
//!
//! The `[sip]` table and `[[employees]]` entries are a contract: later versions add fields
//! and tables but never rename these. Unknown fields are rejected so a typo is an error that
//! names the field instead of a silently ignored setting.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{EmployeeId, Extension};

mod callers;
mod media;
mod org;
mod scenario;
mod schedule;
mod watch;

pub use callers::{
    AnonymousPolicy, CallerList, CallerPattern, CallerRule, DECLINED_PROMPT, LimitedCallers,
    MAX_CALLER_DIGITS, MAX_PRIORITY_LEVEL, Screening,
};
pub use media::{MediaConfig, PortRange};
pub use org::{
    AfterHours, CallbackMode, DEFAULT_ANNOUNCE_SECONDS, Department, Destination, GreetingBand,
    Number, Organization, Route, Strategy, Trunk,
};
pub use scenario::{
    Action, DEFAULT_MENU_TIMEOUT_SECONDS, DEFAULT_MENU_TRIES, DialOp, HangupOp, Menu, Operation,
    QueueOp, Scenario, TransferOp, is_menu_key,
};
pub use schedule::{DateSpec, MINUTES_PER_DAY, Schedule, ScheduleException, TimeRange, WeekHours};
pub use watch::{Applied, ConfigWatch, RETRY_AFTER, fixed, follow};

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
    /// `[grpc]` (also accepted as `[api]`, its first name).
    #[serde(default, rename = "grpc", alias = "api")]
    pub api: ApiConfig,
    #[serde(default)]
    pub media: MediaConfig,
    #[serde(default)]
    pub employees: Vec<Employee>,
    #[serde(default)]
    pub organization: Organization,
    #[serde(default)]
    pub departments: Vec<Department>,
    #[serde(default)]
    pub trunks: Vec<Trunk>,
    #[serde(default)]
    pub numbers: Vec<Number>,
    /// Working hours numbers refer to (R-13).
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// Graphs of operations (greetings, menus, queues...) numbers walk (R-14, R-15).
    #[serde(default)]
    pub scenarios: Vec<Scenario>,
    /// Callers by number, for caller rules and screening (R-30, R-32, R-33).
    #[serde(default)]
    pub caller_lists: Vec<CallerList>,
    /// Policies protecting employees from calls (R-30).
    #[serde(default)]
    pub screening: Vec<Screening>,
    /// How promised callbacks are retried (R-42).
    #[serde(default)]
    pub callbacks: CallbacksConfig,
}

/// `[callbacks]`: how the callback scheduler retries (R-42, R-43).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Attempts per callback unless its request says otherwise (1-20).
    #[serde(default = "defaults::callback_attempts")]
    pub max_attempts: u32,
    /// The wait after the first failed attempt (no answer, busy, failure), in seconds
    /// (1-86400); each later wait is `retry_factor` times the previous one.
    #[serde(default = "defaults::callback_first_retry_seconds")]
    pub first_retry_seconds: u32,
    /// 1-10.
    #[serde(default = "defaults::callback_retry_factor")]
    pub retry_factor: f64,
    /// The longest wait between two attempts, in seconds (at least `first_retry_seconds`,
    /// at most 86400).
    #[serde(default = "defaults::callback_max_retry_seconds")]
    pub max_retry_seconds: u32,
    /// How long the customer's phone rings before the attempt counts as not answered
    /// (5-300 seconds).
    #[serde(default = "defaults::callback_ring_seconds")]
    pub ring_seconds: u32,
    /// How long a callback asked for during a call (a waiting caller's choice, a
    /// scenario's offer) may be tried, in hours (1-2160): past it, it expires.
    #[serde(default = "defaults::callback_window_hours")]
    pub window_hours: u32,
    /// An abandoned call (R-43: `callback_abandoned`) is called back only when the caller
    /// waited at least this long in the queue, in seconds (0-3600): shorter ones are mostly
    /// misdials.
    #[serde(default = "defaults::callback_abandoned_after_seconds")]
    pub abandoned_after_seconds: u32,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            max_attempts: defaults::callback_attempts(),
            first_retry_seconds: defaults::callback_first_retry_seconds(),
            retry_factor: defaults::callback_retry_factor(),
            max_retry_seconds: defaults::callback_max_retry_seconds(),
            ring_seconds: defaults::callback_ring_seconds(),
            window_hours: defaults::callback_window_hours(),
            abandoned_after_seconds: defaults::callback_abandoned_after_seconds(),
        }
    }
}

impl CallbacksConfig {
    fn check(&self) -> Result<(), ConfigError> {
        if !(1..=20).contains(&self.max_attempts) {
            return Err(invalid("callbacks.max_attempts", "must be 1-20"));
        }
        if !(1..=86_400).contains(&self.first_retry_seconds) {
            return Err(invalid("callbacks.first_retry_seconds", "must be 1-86400"));
        }
        if !(1.0..=10.0).contains(&self.retry_factor) {
            return Err(invalid("callbacks.retry_factor", "must be 1-10"));
        }
        if !(self.first_retry_seconds..=86_400).contains(&self.max_retry_seconds) {
            return Err(invalid(
                "callbacks.max_retry_seconds",
                "must be at least first_retry_seconds and at most 86400",
            ));
        }
        if !(5..=300).contains(&self.ring_seconds) {
            return Err(invalid("callbacks.ring_seconds", "must be 5-300"));
        }
        if !(1..=2160).contains(&self.window_hours) {
            return Err(invalid("callbacks.window_hours", "must be 1-2160"));
        }
        if self.abandoned_after_seconds > 3600 {
            return Err(invalid(
                "callbacks.abandoned_after_seconds",
                "must be 0-3600",
            ));
        }
        Ok(())
    }
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
    /// Calls this node carries at once; a new call beyond this gets 503 with Retry-After.
    #[serde(default = "defaults::max_calls")]
    pub max_calls: usize,
}

mod defaults {
    pub fn callback_attempts() -> u32 {
        3
    }
    pub fn callback_first_retry_seconds() -> u32 {
        120
    }
    pub fn callback_retry_factor() -> f64 {
        2.0
    }
    pub fn callback_max_retry_seconds() -> u32 {
        1800
    }
    pub fn callback_ring_seconds() -> u32 {
        30
    }
    pub fn callback_window_hours() -> u32 {
        72
    }
    pub fn callback_abandoned_after_seconds() -> u32 {
        5
    }
    pub fn rtp_ports() -> super::PortRange {
        super::PortRange {
            first: 20000,
            last: 29999,
        }
    }
    pub fn public_ip() -> std::net::IpAddr {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    }
    pub fn rtp_timeout_secs() -> u64 {
        30
    }
    pub fn prompts_dir() -> std::path::PathBuf {
        "prompts".into()
    }
    pub fn recordings_dir() -> std::path::PathBuf {
        "recordings".into()
    }
    pub fn max_endpoints() -> usize {
        4000
    }
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
    pub fn max_calls() -> usize {
        10_000
    }
    pub fn max_tcp_connections() -> usize {
        10_000
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

/// `[[employees]]`: a person who answers calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Priority level (0-9) of this employee's internal calls in queues; above 0 they also
    /// rank with calls from outside (R-32: "except calls from the director").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: u8,
}

fn is_zero(level: &u8) -> bool {
    *level == 0
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
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

    /// Whether a Request-URI user names something a call can reach: a company number (a
    /// leading `+` ignored), an employee's or a department's extension.
    pub fn is_dialable(&self, user: &str) -> bool {
        let number = user.strip_prefix('+').unwrap_or(user);
        self.numbers.iter().any(|n| n.normalized() == number)
            || self.employee_by_extension(user).is_some()
            || self.departments.iter().any(|d| d.extension == user)
    }

    pub fn employee(&self, id: &str) -> Option<&Employee> {
        self.employees.iter().find(|e| e.id.as_str() == id)
    }

    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    pub fn schedule(&self, id: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.id == id)
    }

    pub fn scenario(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    pub fn caller_list(&self, id: &str) -> Option<&CallerList> {
        self.caller_lists.iter().find(|l| l.id == id)
    }

    /// The screening policy protecting an employee, if any.
    pub fn screening_of(&self, employee: &str) -> Option<&Screening> {
        self.screening.iter().find(|s| s.employee == employee)
    }

    /// Checks the whole configuration: values in range and cross-references (members,
    /// routes, unique ids and extensions) consistent. The error names the first bad field
    /// by its path (`employees[1].extension`). Loading runs it; so does every change made
    /// through the configuration API, on the candidate configuration as a whole.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.callbacks.check()?;
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
            || sip.max_calls == 0
        {
            return Err(invalid(
                "sip",
                "queue_depth, max_contacts_per_aor, max_tcp_connections, max_transactions and max_calls must be positive",
            ));
        }
        let media = &self.media;
        if media.max_endpoints == 0 {
            return Err(invalid("media.max_endpoints", "must be positive"));
        }
        if media.webrtc_port != 0
            && (media.rtp_ports.first..=media.rtp_ports.last).contains(&media.webrtc_port)
        {
            return Err(invalid(
                "media.webrtc_port",
                format!("{} lies inside rtp_ports", media.webrtc_port),
            ));
        }
        if media.public_ip.is_unspecified() {
            return Err(invalid(
                "media.public_ip",
                "must be an address peers can send to, not 0.0.0.0 or ::",
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
            callers::check_level(field("priority"), e.priority)?;
        }
        let schedule_ids = schedule::validate(&self.schedules)?;
        let list_ids = callers::validate_lists(&self.caller_lists)?;
        org::validate(self, &schedule_ids, &list_ids)?;
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

[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna", "piotr"]
ring_seconds = 15
wrap_up_seconds = 5

[[departments]]
id = "support"
name = "Support"
extension = "700"
strategy = "longest-idle"
members = ["piotr", "maria"]

[[numbers]]
number = "48221234567"
route = { department = "sales" }
greeting = "welcome"

[[numbers]]
number = "48227654321"
route = { employee = "anna" }
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

    const ORG_BASE: &str = "[sip]\nlisten = \"127.0.0.1:5060\"\ndomain = \"cc.local\"\n\
        [[employees]]\nid='anna'\nname='A'\nextension='201'\nsip_password='secret'\nrole='user'\n\
        [[employees]]\nid='piotr'\nname='P'\nextension='202'\nsip_password='secret'\nrole='user'\n";

    #[test]
    fn the_organisation_parses_with_routes_and_strategies() {
        let c = Config::from_toml(DEMO_TOML).unwrap();
        assert_eq!(c.organization.tz(), chrono_tz::Europe::Warsaw);
        assert_eq!(c.departments[0].strategy, Strategy::Sequential);
        assert_eq!(c.departments[1].strategy, Strategy::LongestIdle);
        assert_eq!(c.numbers[0].route, Some(Route::Department("sales".into())));
        assert_eq!(c.numbers[0].greeting.as_deref(), Some("welcome"));
        let c = Config::from_toml(&format!(
            "{ORG_BASE}[[numbers]]\nnumber='+48600'\nroute={{ employee = 'anna' }}\n[grpc]\nlisten='127.0.0.1:50051'\n"
        ))
        .unwrap();
        assert_eq!(c.numbers[0].normalized(), "48600");
        assert_eq!(c.api.listen.port(), 50051, "[grpc] is the table's name");
    }

    #[test]
    fn a_wrong_organisation_is_refused_naming_the_field() {
        let dept = |extra: &str| {
            format!(
                "{ORG_BASE}[[departments]]\nid='sales'\nname='S'\nextension='600'\nstrategy='sequential'\nmembers=['anna']\n{extra}"
            )
        };
        let cases = [
            (
                format!("{ORG_BASE}[organization]\nname='A'\ntimezone='Mars/Olympus'\n"),
                "organization.timezone",
            ),
            (
                dept("").replace("members=['anna']", "members=['nobody']"),
                "departments[0].members",
            ),
            (
                dept("").replace("extension='600'", "extension='201'"),
                "departments[0].extension",
            ),
            (dept("").replace("'sequential'", "'lottery'"), "lottery"),
            (dept("ring_seconds = 0\n"), "departments[0].ring_seconds"),
            (
                dept("last_agent_minutes = 129601\n"),
                "departments[0].last_agent_minutes",
            ),
            (
                dept("last_agent_ring_seconds = 0\n"),
                "departments[0].last_agent_ring_seconds",
            ),
            (dept("schedule = 'nights'\n"), "departments[0].schedule"),
            (
                dept("").replace("id='sales'", "id='anna'"),
                "departments[0].id",
            ),
            (
                dept("announce_seconds = 4\n"),
                "departments[0].announce_seconds",
            ),
            (
                dept("[[numbers]]\nnumber='123'\nroute={ department = 'hr' }\n"),
                "numbers[0].route",
            ),
            (
                dept("[[numbers]]\nnumber='12a'\nroute={ department = 'sales' }\n"),
                "numbers[0].number",
            ),
            (
                dept(
                    "[[numbers]]\nnumber='12'\nroute={ department = 'sales' }\ngreetings=[{ from='12:00', greeting='a' }, { from='06:00', greeting='b' }]\n",
                ),
                "numbers[0].greetings[1].from",
            ),
            (
                dept(
                    "[[numbers]]\nnumber='12'\nroute={ department = 'sales' }\ngreetings=[{ from='25:00', greeting='a' }]\n",
                ),
                "numbers[0].greetings[0].from",
            ),
            (
                dept(
                    "[[numbers]]\nnumber='1'\nroute={ department = 'sales' }\n[[numbers]]\nnumber='+1'\nroute={ employee = 'anna' }\n",
                ),
                "numbers[1].number",
            ),
        ];
        for (text, field) in cases {
            let err = Config::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(field), "{field} not named in {err}");
        }
    }

    #[test]
    fn media_section_parses_and_bad_values_name_the_field() {
        let base = "[sip]\nlisten = \"127.0.0.1:5060\"\ndomain = \"cc.local\"\n";
        let c = Config::from_toml(&format!(
            "{base}[media]\nrtp_ports = \"20000-20009\"\npublic_ip = \"192.0.2.10\"\nbind_ip = \"0.0.0.0\"\n"
        ))
        .unwrap();
        assert_eq!(c.media.rtp_ports.endpoint_capacity(), 5);
        assert_eq!(c.media.bind_ip().to_string(), "0.0.0.0");
        assert_eq!(
            Config::from_toml(base).unwrap().media.bind_ip().to_string(),
            "127.0.0.1"
        );
        for (media, field) in [
            ("rtp_ports = \"30000-20000\"", "rtp_ports"),
            ("rtp_ports = \"20000\"", "rtp_ports"),
            ("rtp_ports = \"20001-20001\"", "rtp_ports"),
            ("public_ip = \"0.0.0.0\"", "media.public_ip"),
            ("max_endpoints = 0", "media.max_endpoints"),
            ("rtp_port = \"1-2\"", "rtp_port"),
        ] {
            let err = Config::from_toml(&format!("{base}[media]\n{media}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{field} not named in {err}");
        }
    }
}
