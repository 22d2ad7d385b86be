//! The Defender API emulator: a real HTTP server on a loopback address that implements the
//! Entra ID token endpoint (client secret and certificate assertion), the MDE endpoints (alerts,
//! machines, machine actions, vulnerability changes) and the Graph security endpoints (alerts_v2,
//! incidents) over a generated tenant, with paging, last-update filtering, throttling and
//! injectable faults. Tests, `defender-bridge emulator` and `defender-bridge pull --emulator` use it.

mod faults;
mod server;
mod tenant;

pub use faults::{FaultKind, Faults};

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde_json::{json, Value};

use crate::config::SourceKind;
use crate::time::{self, Nanos};
use server::{Reply, Request};
use tenant::Tenant;

use defender_bridge::tree::{Node, Obj};

/// How the emulated tenant looks and misbehaves.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Records per source (machines: the inventory size).
    pub records: u64,
    pub seed: u64,
    pub tenant_id: String,
    pub client_id: String,
    /// Accepted client secret (None: secrets are refused).
    pub client_secret: Option<String>,
    /// Accepted client certificate, DER (None: assertions are refused).
    pub client_cert_der: Option<Vec<u8>>,
    pub token_lifetime: Duration,
    pub faults: Faults,
    /// Server-side throttling: API calls per minute before 429s (None: unlimited).
    pub calls_per_minute: Option<u32>,
    /// Spacing of distinct update times, and records per update time.
    pub step: Duration,
    pub ties: u64,
    /// Newest record time (default: when the emulator starts).
    pub end: Option<Nanos>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            records: 1000,
            seed: 1,
            tenant_id: "00000000-0000-4000-8000-00000000e001".into(),
            client_id: "11111111-0000-4000-8000-00000000e001".into(),
            client_secret: Some("emulator-secret".into()),
            client_cert_der: None,
            token_lifetime: Duration::from_secs(3600),
            faults: Faults::default(),
            calls_per_minute: None,
            step: Duration::from_secs(1),
            ties: 1,
            end: None,
        }
    }
}

/// Counts one connection handler down when it ends.
struct InFlight<'a>(&'a EmulatorStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counters of what the emulator served and injected.
#[derive(Debug, Default)]
pub struct EmulatorStats {
    pub api_requests: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub records_served: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub dropped: AtomicU64,
    pub truncated: AtomicU64,
    pub bad_json: AtomicU64,
    pub expired: AtomicU64,
    pub slow: AtomicU64,
    pub unauthorized: AtomicU64,
    /// Connections accepted whose handler has not finished yet.
    pub in_flight: AtomicU64,
}

impl EmulatorStats {
    /// The counters as a JSON object, as `GET /emulator/stats` serves them.
    pub fn to_json(&self) -> Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "api_requests": g(&self.api_requests),
            "tokens_issued": g(&self.tokens_issued),
            "records_served": g(&self.records_served),
            "throttled": g(&self.throttled),
            "server_errors": g(&self.server_errors),
            "dropped": g(&self.dropped),
            "truncated": g(&self.truncated),
            "bad_json": g(&self.bad_json),
            "expired": g(&self.expired),
            "slow": g(&self.slow),
            "unauthorized": g(&self.unauthorized),
            "in_flight": g(&self.in_flight),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Mde,
    Graph,
}

struct State {
    config: EmulatorConfig,
    tenant: Tenant,
    base: String,
    tokens: Mutex<HashMap<String, (Api, Instant)>>,
    window: Mutex<(Instant, u32)>,
    stats: Arc<EmulatorStats>,
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    addr: SocketAddr,
    stats: Arc<EmulatorStats>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Listens on `listen` (a loopback address; port 0 picks a free port) and serves in the background.
    pub fn start(config: EmulatorConfig, listen: &str) -> std::io::Result<Emulator> {
        let addr: SocketAddr = listen.parse().map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "listen: expected IP:PORT")
        })?;
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the emulator only listens on loopback addresses",
            ));
        }
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(EmulatorStats::default());
        let tenant = Tenant {
            seed: config.seed,
            records: config.records.max(1),
            tenant_id: config.tenant_id.clone(),
            end: config
                .end
                .unwrap_or_else(|| time::now() / 1_000_000 * 1_000_000),
            step: time::dur(config.step).max(1000),
            ties: config.ties.max(1),
        };
        let state = Arc::new(State {
            base: format!("http://{addr}"),
            tenant,
            config,
            tokens: Mutex::new(HashMap::new()),
            window: Mutex::new((Instant::now(), 0)),
            stats: stats.clone(),
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("emulator".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let state = state.clone();
                    state.stats.in_flight.fetch_add(1, Ordering::SeqCst);
                    std::thread::spawn(move || {
                        // Counted down however the handler ends, unwinding included.
                        let _done = InFlight(&state.stats);
                        if let Ok(req) = server::read_request(&stream) {
                            let reply = handle(&state, &req);
                            let _ = server::write_reply(stream, reply);
                        }
                    });
                }
            })?;
        Ok(Emulator {
            addr,
            stats,
            stopping,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for `login_host`, `api_host` and `graph_host` alike.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> &EmulatorStats {
        &self.stats
    }

    /// Settings that point a pull at this emulator (merge with the credential and sources).
    pub fn settings(&self) -> Vec<(String, String)> {
        let b = self.base_url();
        vec![
            ("api_host".into(), b.clone()),
            ("graph_host".into(), b.clone()),
            ("login_host".into(), b),
        ]
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop with one last connection.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The first certificate of a PEM file as DER: what to register with the emulator.
pub fn cert_der_from_pem(pem: &[u8]) -> Option<Vec<u8>> {
    ureq::tls::parse_pem(pem).find_map(|item| match item {
        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.der().to_vec()),
        _ => None,
    })
}

fn json_reply(status: u16, v: Value) -> Reply {
    Reply::Json {
        status,
        body: v.to_string().into_bytes(),
        headers: Vec::new(),
    }
}

fn handle(state: &State, req: &Request) -> Reply {
    let token_path = format!("/{}/oauth2/v2.0/token", state.config.tenant_id);
    if req.path.ends_with("/oauth2/v2.0/token") {
        if req.method != "POST" {
            return json_reply(405, json!({"error": "invalid_request"}));
        }
        if req.path != token_path {
            return json_reply(
                400,
                json!({"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}),
            );
        }
        return token(state, req);
    }
    if req.path == "/emulator/stats" {
        return match req.method.as_str() {
            "GET" => json_reply(200, state.stats.to_json()),
            _ => json_reply(405, json!({"error": "invalid_request"})),
        };
    }
    let api = if req.path.starts_with("/api/") {
        Api::Mde
    } else if req.path.starts_with("/v1.0/security/") {
        Api::Graph
    } else {
        return json_reply(
            404,
            json!({"error": {"code": "NotFound", "message": "no such resource"}}),
        );
    };
    let stats = &state.stats;
    let n = stats.api_requests.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(rule) = state.config.faults.pick(n) {
        match rule.kind {
            FaultKind::Throttle => {
                stats.throttled.fetch_add(1, Ordering::Relaxed);
                return throttled(state.config.faults.retry_after);
            }
            FaultKind::ServerError => {
                stats.server_errors.fetch_add(1, Ordering::Relaxed);
                return json_reply(
                    500,
                    json!({"error": {"code": "InternalServerError", "message": "injected"}}),
                );
            }
            FaultKind::Drop => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                return Reply::Drop;
            }
            FaultKind::Expire => {
                stats.expired.fetch_add(1, Ordering::Relaxed);
                state
                    .tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
            }
            FaultKind::Slow => {
                stats.slow.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(rule.delay);
            }
            FaultKind::Truncate | FaultKind::BadJson => {}
        }
    }
    if !authorized(state, req, api) {
        stats.unauthorized.fetch_add(1, Ordering::Relaxed);
        return Reply::Json {
            status: 401,
            body: json!({"error": {"code": "Unauthorized", "message": "The access token is expired or invalid"}}).to_string().into_bytes(),
            headers: vec![("WWW-Authenticate".into(), "Bearer error=\"invalid_token\"".into())],
        };
    }
    if let Some(limit) = state.config.calls_per_minute {
        let mut w = state.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0.elapsed() >= Duration::from_secs(60) {
            *w = (Instant::now(), 0);
        }
        w.1 += 1;
        if w.1 > limit {
            stats.throttled.fetch_add(1, Ordering::Relaxed);
            let left = Duration::from_secs(60)
                .saturating_sub(w.0.elapsed())
                .as_secs()
                + 1;
            return throttled(left);
        }
    }
    let page = match page(state, req) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    // The core's writer: serde_json's bytes, written faster (the emulator shares the machine
    // with the plugin in the benchmark, so its cost shows in the plugin's figures).
    let mut body = Vec::with_capacity(1 << 16);
    defender_bridge::tree::to_writer(&mut body, &page);
    match state.config.faults.pick(n).map(|r| r.kind) {
        Some(FaultKind::Truncate) => {
            stats.truncated.fetch_add(1, Ordering::Relaxed);
            Reply::Truncated(body)
        }
        Some(FaultKind::BadJson) => {
            stats.bad_json.fetch_add(1, Ordering::Relaxed);
            json_reply_raw(b"{\"value\": [ {\"id\": oops".to_vec())
        }
        _ => Reply::Json {
            status: 200,
            body,
            headers: Vec::new(),
        },
    }
}

fn json_reply_raw(body: Vec<u8>) -> Reply {
    Reply::Json {
        status: 200,
        body,
        headers: Vec::new(),
    }
}

fn throttled(retry_after: u64) -> Reply {
    Reply::Json {
        status: 429,
        body: json!({"error": {"code": "TooManyRequests", "message": "Rate limit is exceeded"}})
            .to_string()
            .into_bytes(),
        headers: vec![("Retry-After".into(), retry_after.to_string())],
    }
}

fn authorized(state: &State, req: &Request, api: Api) -> bool {
    let Some(token) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return false;
    };
    let tokens = state.tokens.lock().unwrap_or_else(|e| e.into_inner());
    tokens
        .get(token)
        .is_some_and(|(a, exp)| *a == api && Instant::now() < *exp)
}

fn token(state: &State, req: &Request) -> Reply {
    let form: HashMap<String, String> = server::parse_pairs(&String::from_utf8_lossy(&req.body))
        .into_iter()
        .collect();
    let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let invalid =
        |code: &str, desc: &str| json_reply(401, json!({"error": code, "error_description": desc}));
    if f("grant_type") != "client_credentials" {
        return json_reply(400, json!({"error": "unsupported_grant_type"}));
    }
    if f("client_id") != state.config.client_id {
        return json_reply(
            400,
            json!({"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found."}),
        );
    }
    let ok = if let Some(secret) = form.get("client_secret") {
        state.config.client_secret.as_deref() == Some(secret.as_str())
    } else if f("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    {
        match &state.config.client_cert_der {
            Some(der) => verify_assertion(state, der, f("client_assertion")).is_ok(),
            None => false,
        }
    } else {
        false
    };
    if !ok {
        return invalid(
            "invalid_client",
            "AADSTS7000215: Invalid client secret or assertion provided.",
        );
    }
    let scope = f("scope");
    let api = if scope.contains("securitycenter") {
        Api::Mde
    } else if scope.contains("graph") {
        Api::Graph
    } else {
        return json_reply(400, json!({"error": "invalid_scope"}));
    };
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!("emu.{}", URL_SAFE_NO_PAD.encode(raw));
    let lifetime = state.config.token_lifetime;
    state
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token.clone(), (api, Instant::now() + lifetime));
    state.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
    json_reply(
        200,
        json!({"token_type": "Bearer", "expires_in": lifetime.as_secs(), "ext_expires_in": lifetime.as_secs(), "access_token": token}),
    )
}

/// Checks an RS256 client assertion against the registered certificate, as Entra ID does.
fn verify_assertion(state: &State, cert_der: &[u8], jwt: &str) -> Result<(), ()> {
    let mut parts = jwt.split('.');
    let (h, c, s) = (
        parts.next().ok_or(())?,
        parts.next().ok_or(())?,
        parts.next().ok_or(())?,
    );
    let dec = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| ());
    let header: Value = serde_json::from_slice(&dec(h)?).map_err(|_| ())?;
    let claims: Value = serde_json::from_slice(&dec(c)?).map_err(|_| ())?;
    let thumb = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert_der,
    ));
    if header["alg"] != "RS256" || header["x5t"] != thumb.as_str() {
        return Err(());
    }
    let der = rustls_pki_types::CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| ())?;
    cert.verify_signature(
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        format!("{h}.{c}").as_bytes(),
        &dec(s)?,
    )
    .map_err(|_| ())?;
    let now = (time::now() / 1_000_000_000) as u64;
    let aud = format!(
        "{}/{}/oauth2/v2.0/token",
        state.base, state.config.tenant_id
    );
    let ok = claims["aud"] == aud.as_str()
        && claims["iss"] == state.config.client_id.as_str()
        && claims["sub"] == state.config.client_id.as_str()
        && claims["exp"].as_u64().is_some_and(|e| e > now)
        && claims["nbf"].as_u64().is_some_and(|n| n <= now + 300);
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

/// Parses `<field> ge <time>` (quotes optional), the only filter the sources send.
fn filter_since(filter: &str, field: &str) -> Option<Nanos> {
    let rest = filter
        .trim()
        .strip_prefix(field)?
        .trim_start()
        .strip_prefix("ge")?;
    time::parse(rest.trim().trim_matches('\''))
}

fn page(state: &State, req: &Request) -> Result<Node<'static>, Reply> {
    let bad = |m: &str| json_reply(400, json!({"error": {"code": "BadRequest", "message": m}}));
    let (kind, field) = match req.path.as_str() {
        "/api/alerts" => (SourceKind::Alerts, "lastUpdateTime"),
        "/api/machines" => (SourceKind::Machines, ""),
        "/api/machineactions" => (SourceKind::MachineActions, "lastUpdateDateTimeUtc"),
        "/api/machines/SoftwareVulnerabilityChangesByMachine" => {
            (SourceKind::Vulnerabilities, "eventTimestamp")
        }
        "/v1.0/security/alerts_v2" => (SourceKind::GraphAlerts, "lastUpdateDateTime"),
        "/v1.0/security/incidents" => (SourceKind::Incidents, "lastUpdateDateTime"),
        _ => {
            return Err(json_reply(
                404,
                json!({"error": {"code": "NotFound", "message": "no such resource"}}),
            ))
        }
    };
    let t = &state.tenant;
    let num = |k: &str, d: u64| {
        req.param(k).map_or(Ok(d), |v| {
            v.parse::<u64>().map_err(|_| bad(&format!("bad {k}")))
        })
    };
    let max_top = match kind {
        SourceKind::Incidents => 50,
        SourceKind::GraphAlerts => 2000,
        _ => 10_000,
    };
    let top = if kind == SourceKind::Vulnerabilities {
        num("pageSize", 8000)?
    } else {
        num("$top", max_top.min(100))?
    }
    .clamp(1, max_top);
    let skip = num("$skip", 0)?;
    let since = if kind == SourceKind::Vulnerabilities {
        match req.param("sinceTime") {
            Some(s) => Some(time::parse(s).ok_or_else(|| bad("bad sinceTime"))?),
            None => None,
        }
    } else if let Some(f) = req.param("$filter") {
        Some(filter_since(f, field).ok_or_else(|| bad("unsupported $filter"))?)
    } else {
        None
    };
    if let Some(o) = req.param("$orderby") {
        if o != format!("{field} asc") {
            return Err(bad("unsupported $orderby"));
        }
    }
    let expand = req
        .param("$expand")
        .is_some_and(|e| e.split(',').any(|x| x == "evidence" || x == "alerts"));
    let first = since.map_or(0, |s| t.first_at_or_after(s));
    let start = first.saturating_add(skip).min(t.records);
    let end = start.saturating_add(top).min(t.records);
    let value: Vec<Node<'static>> = (start..end).map(|i| t.record(kind, i, expand)).collect();
    state
        .stats
        .records_served
        .fetch_add(value.len() as u64, Ordering::Relaxed);
    let context = format!(
        "{}{}/$metadata#{}",
        state.base,
        if kind.is_graph() { "/v1.0" } else { "/api" },
        kind.name()
    );
    let mut page = Obj::with_capacity(3);
    page.push("@odata.context", context);
    page.push("value", Node::Array(value));
    // Graph and the vulnerability delta API page with nextLink; MDE lists are walked with $skip.
    if (kind.is_graph() || kind == SourceKind::Vulnerabilities) && end < t.records {
        let mut query: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "$skip")
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::http::encode(k).replace("%24", "$"),
                    crate::http::encode(v)
                )
            })
            .collect();
        query.push(format!("$skip={}", skip + (end - start)));
        page.push(
            "@odata.nextLink",
            format!("{}{}?{}", state.base, req.path, query.join("&")),
        );
    }
    Ok(Node::Object(page))
}
