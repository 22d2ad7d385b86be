//! The HTTPS client: rustls with verification always on (Mozilla roots plus an optional CA
//! file), a proxy from the config or HTTPS_PROXY, plain http only to loopback. `get_page` wraps
//! every API call in the rate limiter, the bearer token, and the retry policy: 429 honours
//! Retry-After, 5xx / resets / timeouts / unparsable pages back off with jitter, 401 renews the
//! token.

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::Agent;

use crate::auth::Tokens;
use crate::config::{PullConfig, RetryConfig};
use crate::engine::Stats;
use crate::log::Log;
use crate::retry::{backoff, RateLimiter, Stop};

/// Why a request failed for good.
#[derive(Debug)]
pub enum Fault {
    /// Transient trouble that outlasted the retries; the next poll tries again.
    Transient(String),
    /// A request that cannot succeed as configured (bad credentials, 403, bad URL).
    Fatal(String),
    /// The engine is stopping.
    Stopped,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Transient(m) => write!(f, "{m}"),
            Fault::Fatal(m) => write!(f, "{m}"),
            Fault::Stopped => f.write_str("stopped"),
        }
    }
}

/// One attempt's outcome, before the retry policy looks at it.
enum Attempt {
    Ok(Value),
    Retry(String, Option<Duration>),
    Unauthorized,
    Fatal(String),
}

/// Largest page body accepted: far above any real page ($top ≤ 10,000), small enough to bound memory.
const BODY_LIMIT: u64 = 256 * 1024 * 1024;

/// True for `127.x.x.x`, `[::1]` and `localhost`, with or without a port.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://authority` of a URL, to check that a nextLink stays on the host we trust with the token.
fn origin(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

pub fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(out)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct Http {
    agent: Agent,
    pub tokens: Tokens,
    retry: RetryConfig,
    trusted: Vec<String>,
    pub stop: Arc<Stop>,
    pub stats: Arc<Stats>,
    log: Log,
}

impl Http {
    pub fn new(
        config: &PullConfig,
        stop: Arc<Stop>,
        stats: Arc<Stats>,
        log: Log,
    ) -> Result<Http, String> {
        let roots = match &config.ca_file {
            None => RootCerts::WebPki,
            Some(path) => {
                // Added to Mozilla's roots, not instead of them.
                let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                    .iter()
                    .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                    .collect();
                certs.extend(read_ca_file(path)?);
                RootCerts::new_with_certs(&certs)
            }
        };
        let hosts = [&config.api_host, &config.graph_host, &config.login_host];
        let all_loopback = hosts.iter().all(|h| {
            origin(h)
                .and_then(|o| o.split("://").nth(1))
                .is_some_and(is_loopback_authority)
        });
        let proxy = if all_loopback {
            // The emulator on loopback is never reached through a proxy.
            None
        } else if let Some(p) = &config.proxy {
            Some(ureq::Proxy::new(p).map_err(|_| "proxy: not a valid proxy URL".to_string())?)
        } else {
            ureq::Proxy::try_from_env()
        };
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(config.http_timeout))
            .proxy(proxy)
            .user_agent(concat!("defender-bridge/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        let tokens = Tokens::new(
            &config.login_host,
            &config.tenant_id,
            &config.client_id,
            config.credential.clone(),
            config.token_refresh_margin,
        );
        let trusted = hosts
            .iter()
            .filter_map(|h| origin(h).map(str::to_string))
            .collect();
        Ok(Http {
            agent,
            tokens,
            retry: config.retry.clone(),
            trusted,
            stop,
            stats,
            log,
        })
    }

    /// GETs one API page as JSON with `scope`'s token, retrying per the policy.
    pub fn get_page(&self, url: &str, scope: &str, limiter: &RateLimiter) -> Result<Value, Fault> {
        if !origin(url).is_some_and(|o| self.trusted.iter().any(|t| t == o)) {
            return Err(Fault::Fatal(format!(
                "refusing to send a token to an unexpected host: {}",
                origin(url).unwrap_or("?")
            )));
        }
        self.with_retries(url, |http| {
            if !limiter.acquire(&http.stop) {
                return Err(Fault::Stopped);
            }
            let token = http.tokens.get(http, scope)?;
            http.stats.http_requests.fetch_add(1, Ordering::Relaxed);
            let result = http
                .agent
                .get(url)
                .header("Authorization", &format!("Bearer {}", token.expose()))
                .header("Accept", "application/json")
                .call();
            Ok(match classify(result) {
                Attempt::Unauthorized => {
                    // Expired or revoked early: renew and try again (counts as an attempt).
                    http.tokens.invalidate(scope);
                    http.stats
                        .token_renewals_401
                        .fetch_add(1, Ordering::Relaxed);
                    Attempt::Retry(
                        "401 Unauthorized (token renewed)".into(),
                        Some(Duration::ZERO),
                    )
                }
                other => other,
            })
        })
    }

    /// POSTs a form (the token request) and parses the JSON answer.
    pub fn post_form(&self, url: &str, form: &[(&str, String)]) -> Result<Value, Fault> {
        self.with_retries(url, |http| {
            http.stats.token_requests.fetch_add(1, Ordering::Relaxed);
            let result = http
                .agent
                .post(url)
                .send_form(form.iter().map(|(k, v)| (*k, v.as_str())));
            Ok(match classify(result) {
                Attempt::Unauthorized => {
                    Attempt::Fatal("the token endpoint refused the credentials (401)".into())
                }
                other => other,
            })
        })
    }

    fn with_retries(
        &self,
        url: &str,
        mut attempt: impl FnMut(&Http) -> Result<Attempt, Fault>,
    ) -> Result<Value, Fault> {
        let path = url.split('?').next().unwrap_or(url);
        let mut last = String::new();
        for n in 1..=self.retry.attempts {
            if self.stop.is_stopped() {
                return Err(Fault::Stopped);
            }
            match attempt(self)? {
                Attempt::Ok(v) => return Ok(v),
                Attempt::Fatal(m) => return Err(Fault::Fatal(format!("{path}: {m}"))),
                Attempt::Unauthorized => last = "401 Unauthorized".into(),
                Attempt::Retry(m, after) => {
                    if n == self.retry.attempts {
                        last = m;
                        break;
                    }
                    self.stats.http_retries.fetch_add(1, Ordering::Relaxed);
                    let wait = match after {
                        Some(d) => {
                            self.stats.http_throttled.fetch_add(1, Ordering::Relaxed);
                            d.min(self.retry.retry_after_max)
                        }
                        None => backoff(self.retry.base, self.retry.max, n),
                    };
                    self.log
                        .debug(&format!("{path}: {m}; retry {n} in {wait:?}"));
                    if self.stop.sleep(wait) {
                        return Err(Fault::Stopped);
                    }
                    last = m;
                }
            }
        }
        Err(Fault::Transient(format!(
            "{path}: gave up after {} attempts: {last}",
            self.retry.attempts
        )))
    }
}

/// Sorts one response into success, retry (with Retry-After when given), renew or fatal.
fn classify(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Attempt {
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => return Attempt::Retry(transport_error(&e), None),
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if (200..=299).contains(&status) {
        // Parsed straight from the socket: a page is never held as bytes and as a tree at once.
        let body = resp.body_mut().with_config().limit(BODY_LIMIT).reader();
        return match serde_json::from_reader::<_, Value>(std::io::BufReader::with_capacity(
            64 * 1024,
            body,
        )) {
            Ok(v) => Attempt::Ok(v),
            Err(e) if e.is_io() => Attempt::Retry(format!("reading the body failed: {e}"), None),
            Err(e) => Attempt::Retry(format!("the page is not valid JSON: {e}"), None),
        };
    }
    // Error bodies are small; only their error code is used.
    let body = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
    match status {
        401 => Attempt::Unauthorized,
        429 => Attempt::Retry(
            "429 Too Many Requests".into(),
            Some(retry_after.unwrap_or(Duration::from_secs(1))),
        ),
        408 | 500..=599 => Attempt::Retry(format!("HTTP {status}"), retry_after),
        _ => Attempt::Fatal(format!("HTTP {status}{}", error_code(body.ok().as_deref()))),
    }
}

/// The OAuth / OData error code from an error body (never the whole body: it is not ours to log).
fn error_code(body: Option<&[u8]>) -> String {
    let v: Option<Value> = body.and_then(|b| serde_json::from_slice(b).ok());
    let code = v.as_ref().and_then(|v| {
        v.get("error")
            .and_then(|e| e.as_str().or_else(|| e.get("code").and_then(Value::as_str)))
            .map(str::to_string)
    });
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

fn transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "connection closed early".into()
        }
        // The message matters: a TLS failure says which certificate problem it was.
        ureq::Error::Io(io) => format!("I/O error: {io}"),
        ureq::Error::Timeout(t) => format!("timeout ({t:?})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_origin() {
        assert!(is_loopback_authority("127.0.0.1:8080"));
        assert!(is_loopback_authority("[::1]:1"));
        assert!(is_loopback_authority("localhost"));
        assert!(!is_loopback_authority("example.com:80"));
        assert_eq!(origin("https://a.b/c?d"), Some("https://a.b"));
        assert_eq!(encode("a b:c"), "a%20b%3Ac");
    }
}
