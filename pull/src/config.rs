//! Settings: read by key name (as Fluent Bit and config files pass them), validated once, with
//! the Entra ID / Defender / Graph endpoints of each cloud and overrides for every host.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::Certificate;
use crate::log::Level;
use crate::secret::Secret;
use crate::time::parse_duration;

/// A bad or missing setting; `key` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The APIs that can be pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Alerts,
    Machines,
    MachineActions,
    Vulnerabilities,
    GraphAlerts,
    Incidents,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [
        SourceKind::Alerts,
        SourceKind::Machines,
        SourceKind::MachineActions,
        SourceKind::Vulnerabilities,
        SourceKind::GraphAlerts,
        SourceKind::Incidents,
    ];
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Alerts => "alerts",
            SourceKind::Machines => "machines",
            SourceKind::MachineActions => "machine_actions",
            SourceKind::Vulnerabilities => "vulnerabilities",
            SourceKind::GraphAlerts => "graph_alerts",
            SourceKind::Incidents => "incidents",
        }
    }
    pub fn parse(s: &str) -> Option<SourceKind> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        SourceKind::ALL.into_iter().find(|k| k.name() == s)
    }
    /// Graph security API (else the MDE API).
    pub fn is_graph(self) -> bool {
        matches!(self, SourceKind::GraphAlerts | SourceKind::Incidents)
    }
}

/// What records become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    #[default]
    Ecs,
    Sentinel,
    /// The Defender record as received.
    Raw,
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ecs" => Ok(Target::Ecs),
            "sentinel" => Ok(Target::Sentinel),
            "raw" => Ok(Target::Raw),
            _ => Err(format!(
                "unknown target {s:?} (expected ecs, sentinel or raw)"
            )),
        }
    }
}

/// National clouds: each has its own login, MDE and Graph hosts (and token scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Commercial,
    Gcc,
    GccHigh,
    Dod,
}

impl Cloud {
    fn parse(s: &str) -> Option<Cloud> {
        Some(
            match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "commercial" | "global" | "public" => Cloud::Commercial,
                "gcc" => Cloud::Gcc,
                "gcc-high" | "gcchigh" => Cloud::GccHigh,
                "dod" => Cloud::Dod,
                _ => return None,
            },
        )
    }
    pub fn login_host(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://login.microsoftonline.com",
            Cloud::GccHigh | Cloud::Dod => "https://login.microsoftonline.us",
        }
    }
    pub fn api_host(self) -> &'static str {
        match self {
            Cloud::Commercial => "https://api.securitycenter.microsoft.com",
            Cloud::Gcc => "https://api-gcc.securitycenter.microsoft.us",
            Cloud::GccHigh | Cloud::Dod => "https://api-gov.securitycenter.microsoft.us",
        }
    }
    pub fn graph_host(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://graph.microsoft.com",
            Cloud::GccHigh => "https://graph.microsoft.us",
            Cloud::Dod => "https://dod-graph.microsoft.us",
        }
    }
}

/// How the client proves its identity.
#[derive(Debug, Clone)]
pub enum Credential {
    Secret(Secret),
    Certificate(Certificate),
}

/// Retry and back-off settings (tests make them tiny).
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// First back-off; doubles per attempt, with full jitter.
    pub base: Duration,
    pub max: Duration,
    /// Attempts per request (including the first) before the poll is abandoned and reported.
    pub attempts: u32,
    /// Longest Retry-After honoured; longer values are cut to this.
    pub retry_after_max: Duration,
}

/// Every setting of a pull.
#[derive(Debug, Clone)]
pub struct PullConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    pub sources: Vec<SourceKind>,
    pub target: Target,
    pub preserve_original_event: bool,
    pub preserve_duplicate_custom_fields: bool,
    pub initial_lookback: Duration,
    pub overlap: Duration,
    /// Checkpoint directory; `None` keeps cursors in memory only.
    pub state_dir: Option<PathBuf>,
    pub batch_max_records: usize,
    pub machines_interval: Duration,
    pub poll_interval: Duration,
    pub cloud: Cloud,
    pub api_host: String,
    pub graph_host: String,
    pub login_host: String,
    pub mde_scope: String,
    pub graph_scope: String,
    pub proxy: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub log_level: Level,
    pub page_size: usize,
    pub incidents_expand_alerts: bool,
    pub retry: RetryConfig,
    pub mde_calls_per_minute: u32,
    pub mde_calls_per_hour: u32,
    pub graph_calls_per_minute: u32,
    pub http_timeout: Duration,
    /// Batches waiting between the fetchers and `take`; fetching waits when it is full.
    pub queue_batches: usize,
    pub token_refresh_margin: Duration,
    /// Most (id, lastUpdateTime) keys remembered for de-duplication per source.
    pub max_seen: usize,
}

fn get_bool(
    get: &dyn Fn(&str) -> Option<String>,
    key: &str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" | "1" => Ok(true),
            "false" | "off" | "no" | "0" => Ok(false),
            _ => Err(ConfigError::new(
                key,
                format!("expected true or false, got {v:?}"),
            )),
        },
    }
}

fn get_dur(
    get: &dyn Fn(&str) -> Option<String>,
    key: &str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let v = get(key).unwrap_or_else(|| default.to_string());
    parse_duration(&v).ok_or_else(|| {
        ConfigError::new(
            key,
            format!("expected a duration like 5m or 24h, got {v:?}"),
        )
    })
}

fn get_num(
    get: &dyn Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
    min: u64,
) -> Result<u64, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(ConfigError::new(
                key,
                format!("expected a whole number >= {min}, got {v:?}"),
            )),
        },
    }
}

/// Checks a base URL: https always; plain http only to a loopback address (the emulator).
pub(crate) fn check_base_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/').to_string();
    if url.starts_with("https://") {
        return Ok(url);
    }
    if let Some(rest) = url.strip_prefix("http://") {
        if crate::http::is_loopback_authority(rest.split('/').next().unwrap_or("")) {
            return Ok(url);
        }
        return Err(ConfigError::new(
            key,
            "plain http is only allowed to a loopback address; use https",
        ));
    }
    Err(ConfigError::new(
        key,
        format!("expected an https:// URL, got {url:?}"),
    ))
}

impl PullConfig {
    /// Reads settings by key name; keys are case-insensitive (the lookup receives lower case).
    /// Unknown keys are ignored, so a host can pass its own settings through.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<PullConfig, ConfigError> {
        Self::parse_lookup(get).map_err(|e| redact_secret(e, get))
    }

    fn parse_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<PullConfig, ConfigError> {
        let lookup = |key: &str| -> Option<String> {
            get(key)
                .or_else(|| get(&key.to_ascii_uppercase()))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let get: &dyn Fn(&str) -> Option<String> = &lookup;
        let required = |key: &str| get(key).ok_or_else(|| ConfigError::new(key, "is required"));

        let tenant_id = required("tenant_id")?;
        if !tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(ConfigError::new(
                "tenant_id",
                "expected a tenant GUID or domain name",
            ));
        }
        let client_id = required("client_id")?;
        let credential = read_credential(get)?;

        let sources = match get("sources") {
            None => vec![SourceKind::Alerts],
            Some(list) => {
                let mut out = Vec::new();
                for item in list.split(',').filter(|s| !s.trim().is_empty()) {
                    let kind = SourceKind::parse(item).ok_or_else(|| {
                        ConfigError::new(
                            "sources",
                            format!("unknown source {:?} (expected alerts, machines, machine_actions, vulnerabilities, graph_alerts, incidents)", item.trim()),
                        )
                    })?;
                    if !out.contains(&kind) {
                        out.push(kind);
                    }
                }
                if out.is_empty() {
                    return Err(ConfigError::new("sources", "names no source"));
                }
                out
            }
        };
        let target = match get("target") {
            None => Target::Ecs,
            Some(t) => t
                .parse()
                .map_err(|e: String| ConfigError::new("target", e))?,
        };
        let cloud = match get("cloud") {
            None => Cloud::Commercial,
            Some(c) => Cloud::parse(&c).ok_or_else(|| {
                ConfigError::new("cloud", "expected commercial, gcc, gcc-high or dod")
            })?,
        };
        let host = |key: &str, default: &str| {
            check_base_url(key, &get(key).unwrap_or_else(|| default.to_string()))
        };
        let api_host = host("api_host", cloud.api_host())?;
        let graph_host = host("graph_host", cloud.graph_host())?;
        let login_host = host("login_host", cloud.login_host())?;
        // Scopes name the resource, not the host: they stay right when a host is overridden
        // (regional MDE hosts, the emulator).
        let mde_scope =
            get("mde_scope").unwrap_or_else(|| format!("{}/.default", cloud.api_host()));
        let graph_scope =
            get("graph_scope").unwrap_or_else(|| format!("{}/.default", cloud.graph_host()));
        let log_level = match get("log_level") {
            None => Level::Info,
            Some(l) => Level::parse(&l).ok_or_else(|| {
                ConfigError::new("log_level", "expected error, warn, info, debug or trace")
            })?,
        };
        let proxy = get("proxy");
        if let Some(p) = &proxy {
            ureq::Proxy::new(p).map_err(|_| ConfigError::new("proxy", "not a valid proxy URL"))?;
        }
        let ca_file = get("tls.ca_file")
            .or_else(|| get("tls_ca_file"))
            .map(PathBuf::from);
        if let Some(f) = &ca_file {
            crate::http::read_ca_file(f).map_err(|m| ConfigError::new("tls.ca_file", m))?;
        }

        Ok(PullConfig {
            tenant_id,
            client_id,
            credential,
            sources,
            target,
            preserve_original_event: get_bool(get, "preserve_original_event", false)?,
            preserve_duplicate_custom_fields: get_bool(
                get,
                "preserve_duplicate_custom_fields",
                false,
            )?,
            initial_lookback: get_dur(get, "initial_lookback", "24h")?,
            overlap: get_dur(get, "overlap", "5m")?,
            state_dir: get("state_dir").map(PathBuf::from),
            batch_max_records: get_num(get, "batch_max_records", 500, 1)? as usize,
            machines_interval: get_dur(get, "machines_interval", "60m")?,
            poll_interval: get_dur(get, "poll_interval", "60s")?,
            cloud,
            api_host,
            graph_host,
            login_host,
            mde_scope,
            graph_scope,
            proxy,
            ca_file,
            log_level,
            page_size: get_num(get, "page_size", 500, 1)?.min(10_000) as usize,
            incidents_expand_alerts: get_bool(get, "incidents_expand_alerts", false)?,
            retry: RetryConfig {
                base: get_dur(get, "retry_base", "1s")?,
                max: get_dur(get, "retry_max", "60s")?,
                attempts: get_num(get, "retry_attempts", 8, 1)? as u32,
                retry_after_max: get_dur(get, "retry_after_max", "300s")?,
            },
            mde_calls_per_minute: get_num(get, "mde_calls_per_minute", 100, 1)? as u32,
            mde_calls_per_hour: get_num(get, "mde_calls_per_hour", 1500, 1)? as u32,
            graph_calls_per_minute: get_num(get, "graph_calls_per_minute", 600, 1)? as u32,
            http_timeout: get_dur(get, "http_timeout", "60s")?,
            queue_batches: get_num(get, "queue_batches", 4, 1)? as usize,
            token_refresh_margin: get_dur(get, "token_refresh_margin", "5m")?,
            max_seen: get_num(get, "max_seen", 20_000, 1)? as usize,
        })
    }

    /// Secrets the log scrubber removes wherever they appear.
    pub(crate) fn secrets(&self) -> Vec<crate::secret::Secret> {
        match &self.credential {
            Credential::Secret(s) => vec![s.clone()],
            Credential::Certificate(c) => vec![c.key_pem().clone()],
        }
    }
}

/// A config error quotes the bad value of a setting; when that value holds the client secret
/// (pasted under the wrong key), the secret is cut out of the message, which goes to the log.
/// Found by the plugin_abi fuzzer: `target = <the secret>` logged it in `unknown target "…"`.
fn redact_secret(mut e: ConfigError, get: &dyn Fn(&str) -> Option<String>) -> ConfigError {
    let lookup = |key: &str| {
        get(key)
            .or_else(|| get(&key.to_ascii_uppercase()))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let Ok(Credential::Secret(secret)) = read_credential(&lookup) {
        let secret = secret.expose();
        // Shorter "secrets" would redact ordinary words of the message.
        if secret.len() >= 4 && e.message.contains(secret) {
            e.message = e.message.replace(secret, "<redacted: the client secret>");
        }
    }
    e
}

fn read_credential(get: &dyn Fn(&str) -> Option<String>) -> Result<Credential, ConfigError> {
    if let Some(s) = get("client_secret") {
        return Ok(Credential::Secret(Secret::new(s)));
    }
    if let Some(path) = get("client_secret_file") {
        // Held as a Secret so the untrimmed copy is wiped too when it is dropped.
        let raw = Secret::new(std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new(
                "client_secret_file",
                format!("cannot read {path}: {}", e.kind()),
            )
        })?);
        let text = raw.expose().trim().to_string();
        if text.is_empty() {
            return Err(ConfigError::new(
                "client_secret_file",
                format!("{path} is empty"),
            ));
        }
        return Ok(Credential::Secret(Secret::new(text)));
    }
    if let Some(var) = get("client_secret_env") {
        let value = std::env::var(&var)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    "client_secret_env",
                    format!("environment variable {var} is not set"),
                )
            })?;
        return Ok(Credential::Secret(Secret::new(value)));
    }
    if let Some(path) = get("client_certificate_file") {
        let pem = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new(
                "client_certificate_file",
                format!("cannot read {path}: {}", e.kind()),
            )
        })?;
        let cert = Certificate::from_pem(Secret::new(pem))
            .map_err(|m| ConfigError::new("client_certificate_file", format!("{path}: {m}")))?;
        return Ok(Credential::Certificate(cert));
    }
    Err(ConfigError::new(
        "client_secret",
        "a credential is required: client_secret, client_secret_file, client_secret_env or client_certificate_file",
    ))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_secret_pasted_under_another_key_is_not_quoted_in_the_error() {
        let props = [
            ("tenant_id", "t"),
            ("client_id", "c"),
            ("client_secret", "fuzz-S3cr3t-value"),
            ("target", "fuzz-S3cr3t-value"),
        ];
        let get = |k: &str| {
            props
                .iter()
                .find(|(p, _)| *p == k)
                .map(|(_, v)| v.to_string())
        };
        let e = PullConfig::from_lookup(&get).unwrap_err();
        assert_eq!(e.key, "target");
        assert!(!e.to_string().contains("fuzz-S3cr3t-value"), "{e}");
        assert!(
            e.to_string().contains("<redacted: the client secret>"),
            "{e}"
        );
    }
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<PullConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PullConfig::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_errors() {
        let c = cfg(&[
            ("tenant_id", "t1"),
            ("client_id", "c"),
            ("client_secret", "s3cr3t-value"),
        ])
        .unwrap();
        assert_eq!(c.sources, vec![SourceKind::Alerts]);
        assert_eq!(c.api_host, "https://api.securitycenter.microsoft.com");
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
        assert_eq!(cfg(&[("tenant_id", "t")]).unwrap_err().key, "client_id");
        let e = cfg(&[
            ("tenant_id", "t"),
            ("client_id", "c"),
            ("client_secret", "x"),
            ("sources", "alerts,bogus"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "sources");
        let e = cfg(&[
            ("tenant_id", "t"),
            ("client_id", "c"),
            ("client_secret", "x"),
            ("api_host", "http://example.com"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "api_host");
        let c = cfg(&[
            ("tenant_id", "t"),
            ("client_id", "c"),
            ("client_secret", "x"),
            ("cloud", "gcc-high"),
            ("api_host", "http://127.0.0.1:9"),
        ])
        .unwrap();
        assert_eq!(c.graph_host, "https://graph.microsoft.us");
        assert_eq!(c.login_host, "https://login.microsoftonline.us");
        assert_eq!(
            c.mde_scope,
            "https://api-gov.securitycenter.microsoft.us/.default"
        );
    }
}
