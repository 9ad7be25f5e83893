//! How requests reach a registry: the HTTP clients (Docker's per-registry CAs, timeouts,
//! redirects), the base URL (`https://host`, or `http://host` where allowed), the `-v`
//! trace line of every request, bounded body reads and the registry's error bodies.

use std::path::Path;
use std::time::Duration;

use reqwest::redirect::Policy;

use super::error::chain;
use super::options::ClientOptions;
use fleetflow_oci::is_loopback;

/// The HTTP side of one registry client.
pub(crate) struct Transport {
    /// The registry as named in references (`docker.io` for Docker Hub).
    pub(crate) registry: String,
    /// `https://host` or `http://host`.
    pub(crate) base: String,
    /// For the registry API.
    pub(crate) http: reqwest::Client,
    /// For token realms: follows a redirect only where credentials may go (see
    /// [`realm_may_receive_credentials`]), so a realm cannot bounce them to plain HTTP.
    pub(crate) realm_http: reqwest::Client,
    trace: Option<super::options::Tracer>,
}

impl Transport {
    /// Clients for `registry` served at API host `host`; the base URL starts as HTTPS.
    pub(crate) fn new(registry: &str, host: &str, opts: &ClientOptions) -> Result<Self, String> {
        let insecure = opts.insecure;
        let builder = |redirect: Policy| {
            let b = reqwest::Client::builder()
                .user_agent(concat!("flow/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                .read_timeout(Duration::from_secs(120))
                .pool_max_idle_per_host(32)
                .redirect(redirect)
                .danger_accept_invalid_certs(insecure);
            with_registry_cas(b, &opts.certs_dir, host)?
                .build()
                .map_err(|e| chain(&e))
        };
        let realm_redirects = Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if realm_may_receive_credentials(attempt.url(), insecure) {
                attempt.follow()
            } else {
                attempt.error("token realm redirected to plain HTTP")
            }
        });
        Ok(Transport {
            registry: registry.to_string(),
            base: format!("https://{host}"),
            http: builder(Policy::limited(5))?,
            realm_http: builder(realm_redirects)?,
            trace: opts.trace.clone(),
        })
    }

    /// The URL of an API path (`/v2/...`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An upload `Location`, absolute or relative to the registry.
    pub(crate) fn resolve_location(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }

    /// Send `req` (on whichever client made it) and print its `-v` line, as `label`
    /// (default: its method).
    pub(crate) async fn execute(
        &self,
        label: Option<&str>,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let (client, req) = req.build_split();
        let req = req?;
        let line = self.trace.is_some().then(|| {
            (
                label.unwrap_or(req.method().as_str()).to_string(),
                req.url().to_string(),
            )
        });
        let result = client.execute(req).await;
        if let Some((method, url)) = line {
            self.trace(&method, &url, &outcome(&result));
        }
        result
    }

    /// The `-v` line: method, URL without its query (upload URLs carry state tokens
    /// there), outcome. Never a header or a body.
    pub(crate) fn trace(&self, method: &str, url: &str, outcome: &str) {
        if let Some(trace) = &self.trace {
            let bare = url.split('?').next().unwrap_or(url);
            (trace.0)(&format!("[http] {method} {bare} -> {outcome}"));
        }
    }
}

/// May credentials be sent to the token realm `url`? Over TLS, yes; over plain HTTP only
/// to a loopback literal (a name that merely resolves to loopback does not count), or
/// when the user asked for `insecure`.
pub(crate) fn realm_may_receive_credentials(url: &url::Url, insecure: bool) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => insecure || url.host_str().is_some_and(is_loopback),
        _ => false,
    }
}

/// Trust the CAs Docker would for `host`: every `<certs_dir>/<host>/*.crt`.
fn with_registry_cas(
    mut b: reqwest::ClientBuilder,
    certs_dir: &Path,
    host: &str,
) -> Result<reqwest::ClientBuilder, String> {
    if let Ok(entries) = std::fs::read_dir(certs_dir.join(host)) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "crt") {
                let pem = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                let cert = reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                b = b.add_root_certificate(cert);
            }
        }
    }
    Ok(b)
}

/// A response's status, or the error, for `-v` lines.
fn outcome(result: &Result<reqwest::Response, reqwest::Error>) -> String {
    match result {
        Ok(r) => r.status().to_string(),
        Err(e) => format!("error: {}", chain(e)),
    }
}

/// The body of `resp`, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| chain(&e))? {
        if out.len() + chunk.len() > limit {
            return Err(format!("response body larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `{"errors":[{"code","message"}]}` as one line (at most 64 KiB are read).
pub(crate) async fn error_text(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
    let parsed = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let errors: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    format!("{code}: {msg}")
                })
                .collect()
        })
        .unwrap_or_default();
    if errors.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_tls_realms_and_loopback_literals_only() {
        let ok = |u: &str, insecure| realm_may_receive_credentials(&u.parse().unwrap(), insecure);
        assert!(ok("https://auth.example.com/token", false));
        assert!(ok("http://127.0.0.1:5001/token", false));
        assert!(ok("http://localhost/token", false));
        assert!(ok("http://[::1]:8080/token", false));
        // A name that resolves to loopback is not a loopback literal.
        assert!(!ok("http://flow-realm.test:5001/token", false));
        assert!(!ok("http://auth.example.com/token", false));
        assert!(!ok("ftp://auth.example.com/token", false));
        // --insecure is the user's explicit choice.
        assert!(ok("http://auth.example.com/token", true));
    }
}
