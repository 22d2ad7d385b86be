//! OAuth2 client credentials against Entra ID (`<login>/<tenant>/oauth2/v2.0/token`): with a
//! client secret, or with a certificate (an RS256 JWT client assertion carrying the
//! certificate's SHA-1 thumbprint as `x5t`). Tokens are cached per scope and renewed before they
//! expire, or at once when an API answers 401.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

use crate::config::Credential;
use crate::http::{Fault, Http};
use crate::secret::Secret;

/// A client certificate: the private key (kept secret) and the certificate's DER.
#[derive(Clone)]
pub struct Certificate {
    key_pem: Secret,
    key: Arc<RsaKeyPair>,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("x5t", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Reads a PEM holding an RSA private key (PKCS#8 or PKCS#1) and the certificate.
    pub fn from_pem(pem: Secret) -> Result<Certificate, String> {
        let mut key = None;
        let mut cert = None;
        for item in ureq::tls::parse_pem(pem.expose().as_bytes()) {
            // A parse error message could quote key material: report it without details.
            match item.map_err(|_| "the PEM could not be parsed".to_string())? {
                ureq::tls::PemItem::Certificate(c) if cert.is_none() => {
                    cert = Some(c.der().to_vec())
                }
                ureq::tls::PemItem::PrivateKey(k) if key.is_none() => {
                    let der = k.der();
                    // PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
                    let pair = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der));
                    key = Some(pair.map_err(|_| {
                        "the private key is not a usable RSA key (PKCS#8 or PKCS#1)".to_string()
                    })?);
                }
                _ => {}
            }
        }
        let key = key.ok_or("no PRIVATE KEY block in the PEM")?;
        let cert_der = cert.ok_or("no CERTIFICATE block in the PEM")?;
        Ok(Certificate {
            key_pem: pem,
            key: Arc::new(key),
            cert_der,
        })
    }

    pub(crate) fn key_pem(&self) -> &Secret {
        &self.key_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// `x5t`: base64url of the certificate's SHA-1 digest, how Entra ID finds the key.
    pub fn thumbprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der);
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// The signed client assertion for `token_url`, valid for ten minutes.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now_unix: u64,
    ) -> Result<Secret, String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint()});
        let mut jti = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti);
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "nbf": now_unix,
            "iat": now_unix,
            "exp": now_unix + 600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }
}

struct Token {
    value: Secret,
    expires: Instant,
}

/// Fetches and caches access tokens, one per scope.
pub(crate) struct Tokens {
    token_url: String,
    client_id: String,
    credential: Credential,
    margin: Duration,
    cache: Mutex<HashMap<String, Token>>,
    /// Serialises token requests so that workers starting together share one token.
    fetching: Mutex<()>,
}

impl Tokens {
    pub fn new(
        login_host: &str,
        tenant: &str,
        client_id: &str,
        credential: Credential,
        margin: Duration,
    ) -> Tokens {
        Tokens {
            token_url: format!("{login_host}/{tenant}/oauth2/v2.0/token"),
            client_id: client_id.to_string(),
            credential,
            margin,
            cache: Mutex::new(HashMap::new()),
            fetching: Mutex::new(()),
        }
    }

    /// A token for `scope`, from the cache unless it is within the refresh margin of expiry.
    pub fn get(&self, http: &Http, scope: &str) -> Result<Secret, Fault> {
        if let Some(t) = self.cached(scope) {
            return Ok(t);
        }
        let _one_at_a_time = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        // Another worker may have fetched it while this one waited.
        if let Some(t) = self.cached(scope) {
            return Ok(t);
        }
        let (value, lifetime) = self.fetch(http, scope)?;
        // Renew before expiry: a margin, but never more than half of a short lifetime.
        let margin = self.margin.min(lifetime / 2);
        let expires = Instant::now() + lifetime - margin;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(
            scope.to_string(),
            Token {
                value: value.clone(),
                expires,
            },
        );
        Ok(value)
    }

    fn cached(&self, scope: &str) -> Option<Secret> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(scope)
            .filter(|t| Instant::now() < t.expires)
            .map(|t| t.value.clone())
    }

    /// Forgets the cached token (the API said 401): the next `get` fetches a new one.
    pub fn invalidate(&self, scope: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(scope);
    }

    fn fetch(&self, http: &Http, scope: &str) -> Result<(Secret, Duration), Fault> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", scope.to_string()),
        ];
        let assertion;
        match &self.credential {
            Credential::Secret(s) => form.push(("client_secret", s.expose().to_string())),
            Credential::Certificate(c) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                assertion = c
                    .assertion(&self.client_id, &self.token_url, now)
                    .map_err(Fault::Fatal)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion.expose().to_string()));
            }
        }
        let body: Value = http.post_form(&self.token_url, &form)?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| Fault::Fatal("token response has no access_token".into()))?;
        let expires_in = body
            .get("expires_in")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3599);
        Ok((Secret::new(token), Duration::from_secs(expires_in.max(1))))
    }
}
