//! The HTTPS client: rustls with verification always on (Mozilla roots plus an optional CA
//! file), a proxy from the config or HTTPS_PROXY, plain http only to loopback. `get_page` wraps
//! every API call in the rate limiter, the bearer token, and the retry policy: 429 honours
//! Retry-After, 5xx / resets / timeouts / unparsable pages back off with jitter, 401 renews the
//! token.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
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
enum Attempt<T> {
    Ok(T),
    Retry(String, Option<Duration>),
    Unauthorized,
    Fatal(String),
}

/// Largest page body accepted: far above any real page ($top ≤ 10,000), small enough to bound memory.
const BODY_LIMIT: u64 = 256 * 1024 * 1024;

/// Largest buffer reserved up front from a Content-Length; a longer body grows it as it comes.
const BODY_HINT_MAX: u64 = 64 * 1024 * 1024;

/// One API page, kept as text: the byte ranges of its `value` items, parsed one at a time by the
/// worker, so that only the page's bytes and one record's tree are in memory at once (a whole
/// parsed page costs ~10× its text).
#[derive(Debug)]
pub struct Page {
    body: String,
    shape: Shape,
}

#[derive(Debug)]
enum Shape {
    NotObject,
    /// An object without a `value` array.
    NoArray,
    Items {
        items: Vec<(usize, usize)>,
        /// `@odata.nextLink` when it is a string.
        next_link: Option<String>,
    },
}

impl Page {
    /// Checks that `body` is JSON and finds the page's items. Like a parse into a `Value`, the last
    /// of repeated keys wins. The items are only checked for syntax here (a record nested deeper
    /// than the parser's limit or holding a lone surrogate escape fails when it is parsed).
    pub fn parse(body: Vec<u8>) -> Result<Page, String> {
        let body = String::from_utf8(body)
            .map_err(|e| format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()))?;
        let object = body
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{');
        let shape = if object {
            let top: PageTop<'_> = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            match top.value {
                Some(items) => {
                    let base = body.as_ptr() as usize;
                    let items = items
                        .iter()
                        .map(|raw| {
                            let start = raw.get().as_ptr() as usize - base;
                            (start, start + raw.get().len())
                        })
                        .collect();
                    let next_link = match top.next_link {
                        Some(raw) if raw.get().starts_with('"') => Some(
                            serde_json::from_str::<String>(raw.get()).map_err(|e| e.to_string())?,
                        ),
                        _ => None,
                    };
                    Shape::Items { items, next_link }
                }
                None => Shape::NoArray,
            }
        } else {
            serde_json::from_str::<IgnoredAny>(&body).map_err(|e| e.to_string())?;
            Shape::NotObject
        };
        Ok(Page { body, shape })
    }

    pub fn is_object(&self) -> bool {
        !matches!(self.shape, Shape::NotObject)
    }

    /// True when the page has a `value` array.
    pub fn has_array(&self) -> bool {
        matches!(self.shape, Shape::Items { .. })
    }

    /// The texts of the `value` array's items (none when it has no such array).
    pub fn records(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        let items: &[(usize, usize)] = match &self.shape {
            Shape::Items { items, .. } => items,
            _ => &[],
        };
        items.iter().map(|&(a, b)| &self.body[a..b])
    }

    pub fn next_link(&self) -> Option<&str> {
        match &self.shape {
            Shape::Items { next_link, .. } => next_link.as_deref(),
            _ => None,
        }
    }
}

/// The top level of a page object: its `value` array's items (when it is an array) and
/// `@odata.nextLink`, each the last of its key.
struct PageTop<'a> {
    value: Option<Vec<&'a RawValue>>,
    next_link: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for PageTop<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PageTopVisitor)
    }
}

struct PageTopVisitor;

impl<'de> Visitor<'de> for PageTopVisitor {
    type Value = PageTop<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageTop<'de>, A::Error> {
        let mut top = PageTop {
            value: None,
            next_link: None,
        };
        while let Some(key) = map.next_key::<PageKey>()? {
            match key {
                PageKey::Value => top.value = map.next_value::<ItemsOrNot<'de>>()?.0,
                PageKey::NextLink => top.next_link = Some(map.next_value::<&RawValue>()?),
                PageKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(top)
    }
}

enum PageKey {
    Value,
    NextLink,
    Other,
}

impl<'de> Deserialize<'de> for PageKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(PageKeyVisitor)
    }
}

struct PageKeyVisitor;

impl Visitor<'_> for PageKeyVisitor {
    type Value = PageKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<PageKey, E> {
        Ok(match key {
            "value" => PageKey::Value,
            "@odata.nextLink" => PageKey::NextLink,
            _ => PageKey::Other,
        })
    }
}

/// A `value` member: its items when it is an array, `None` for any other JSON value.
struct ItemsOrNot<'a>(Option<Vec<&'a RawValue>>);

impl<'de> Deserialize<'de> for ItemsOrNot<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor)
    }
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = ItemsOrNot<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<&RawValue>()? {
            items.push(item);
        }
        Ok(ItemsOrNot(Some(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(ItemsOrNot(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ItemsOrNot(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ItemsOrNot(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ItemsOrNot(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ItemsOrNot(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ItemsOrNot(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ItemsOrNot(None))
    }
}

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

    /// GETs one API page with `scope`'s token, retrying per the policy. The page is checked to be
    /// JSON and cut into its records' texts; the records are parsed one at a time by the caller.
    pub fn get_page(&self, url: &str, scope: &str, limiter: &RateLimiter) -> Result<Page, Fault> {
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
            Ok(match classify(result, Page::parse) {
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
            Ok(
                match classify(result, |body| {
                    serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())
                }) {
                    Attempt::Unauthorized => {
                        Attempt::Fatal("the token endpoint refused the credentials (401)".into())
                    }
                    other => other,
                },
            )
        })
    }

    fn with_retries<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut(&Http) -> Result<Attempt<T>, Fault>,
    ) -> Result<T, Fault> {
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

/// Sorts one response into success (the body read whole and handed to `parse`), retry (with
/// Retry-After when given), renew or fatal.
fn classify<T>(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    parse: impl FnOnce(Vec<u8>) -> Result<T, String>,
) -> Attempt<T> {
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
        // Read whole (parsing from a slice is several times faster than from a reader), sized
        // from Content-Length when the server sends one; the limit still bounds it.
        let hint = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .min(BODY_HINT_MAX);
        let mut body = Vec::with_capacity(hint as usize);
        let read = resp
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .reader()
            .read_to_end(&mut body);
        if let Err(e) = read {
            return Attempt::Retry(format!("reading the body failed: {e}"), None);
        }
        return match parse(body) {
            Ok(v) => Attempt::Ok(v),
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
    fn pages_keep_item_texts_and_the_last_next_link() {
        let page = Page::parse(
            br#"{"@odata.context":"c","value":[{"id":"a","n":[1,{"x":2}]}, {"id":"b"}],"@odata.nextLink":"u1","@odata.nextLink":"u2"}"#
                .to_vec(),
        )
        .unwrap();
        assert!(page.is_object() && page.has_array());
        let texts: Vec<&str> = page.records().collect();
        assert_eq!(texts, [r#"{"id":"a","n":[1,{"x":2}]}"#, r#"{"id":"b"}"#]);
        assert_eq!(page.next_link(), Some("u2"));

        let no_array = Page::parse(br#"{"value":{"id":"a"}}"#.to_vec()).unwrap();
        assert!(no_array.is_object() && !no_array.has_array());
        assert_eq!(no_array.records().len(), 0);
        let not_object = Page::parse(b"[1,2]".to_vec()).unwrap();
        assert!(!not_object.is_object());
        assert!(Page::parse(br#"{"value":[1,]}"#.to_vec()).is_err());
        assert!(Page::parse(br#"{"value":[]} x"#.to_vec()).is_err());
    }

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
