//! Pre-flight: before any build, ask each target registry whether our credentials may
//! push, so a wrong password fails in a second instead of after a long build.
//!
//! `GET /v2/`; on `401 Basic` retry with the credentials; on `401 Bearer` request a token
//! with scope `repository:<name>:push,pull` and, when the token is a JWT (as Docker's
//! token servers issue), check that it grants `push`.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;

use crate::challenge::Challenge;
use crate::client::{chain, with_registry_cas};
use crate::credentials::Credentials;
use fleetflow_oci::{api_host, is_loopback};

/// Why pre-flight failed.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The registry refused the credentials (or anonymous access).
    #[error("{registry}: authentication failed ({detail})")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// What the registry said (never a secret).
        detail: String,
    },
    /// Authenticated, but not allowed to push this repository.
    #[error("{registry}: no push access to {repository} ({detail})")]
    Denied {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// What the registry said.
        detail: String,
    },
    /// The registry could not be reached or spoke no Registry API.
    #[error("{registry}: {message}")]
    Unreachable {
        /// Registry host.
        registry: String,
        /// Why.
        message: String,
    },
}

/// A client for pre-flight checks. TLS is verified; CAs in
/// `/etc/docker/certs.d/<host>/*.crt` (Docker's per-registry trust) are added.
#[derive(Debug, Clone)]
pub struct Preflight {
    timeout: Duration,
    certs_dir: std::path::PathBuf,
}

impl Default for Preflight {
    fn default() -> Self {
        Preflight {
            timeout: Duration::from_secs(15),
            certs_dir: "/etc/docker/certs.d".into(),
        }
    }
}

impl Preflight {
    /// Override where per-registry CA files are looked up.
    pub fn with_certs_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.certs_dir = dir.into();
        self
    }

    fn client(&self, host: &str) -> Result<reqwest::Client, String> {
        let b = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("flow/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5));
        let b = with_registry_cas(b, &self.certs_dir, host)?;
        b.build().map_err(|e| e.to_string())
    }

    /// Check that `creds` (or anonymous access) may push to `registry`/`repository`.
    pub async fn check_push(
        &self,
        registry: &str,
        repository: &str,
        creds: Option<&Credentials>,
    ) -> Result<(), PreflightError> {
        let host = api_host(registry);
        let unreachable = |message: String| PreflightError::Unreachable {
            registry: registry.to_string(),
            message,
        };
        let client = self.client(host).map_err(unreachable)?;
        // HTTPS first; loopback registries may be plain HTTP (Docker treats 127.0.0.0/8 as
        // insecure too).
        let mut base = format!("https://{host}");
        let first = match client.get(format!("{base}/v2/")).send().await {
            Ok(r) => r,
            Err(e) if is_loopback(host) && (e.is_connect() || e.is_request()) => {
                base = format!("http://{host}");
                client
                    .get(format!("{base}/v2/"))
                    .send()
                    .await
                    .map_err(|e| unreachable(chain(&e)))?
            }
            Err(e) => return Err(unreachable(chain(&e))),
        };
        match first.status() {
            s if s.is_success() => return Ok(()),
            StatusCode::UNAUTHORIZED => {}
            s => return Err(unreachable(format!("GET {base}/v2/ answered {s}"))),
        }
        let challenge = first
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::parse)
            .ok_or_else(|| unreachable("401 without a WWW-Authenticate challenge".into()))?;
        let unauthorized = |detail: String| PreflightError::Unauthorized {
            registry: registry.to_string(),
            detail,
        };
        match challenge.scheme.as_str() {
            "basic" => {
                let Some(Credentials::Basic { username, password }) = creds else {
                    return Err(unauthorized(
                        "the registry needs a user name and password; none found".into(),
                    ));
                };
                let r = client
                    .get(format!("{base}/v2/"))
                    .basic_auth(username, Some(password.expose()))
                    .send()
                    .await
                    .map_err(|e| unreachable(chain(&e)))?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(unauthorized(format!(
                        "GET /v2/ with credentials answered {}",
                        r.status()
                    )))
                }
            }
            "bearer" => {
                self.check_bearer(&client, registry, repository, creds, &challenge)
                    .await
            }
            other => Err(unreachable(format!("unsupported auth scheme `{other}`"))),
        }
    }

    async fn check_bearer(
        &self,
        client: &reqwest::Client,
        registry: &str,
        repository: &str,
        creds: Option<&Credentials>,
        challenge: &Challenge,
    ) -> Result<(), PreflightError> {
        let unreachable = |message: String| PreflightError::Unreachable {
            registry: registry.to_string(),
            message,
        };
        let unauthorized = |detail: String| PreflightError::Unauthorized {
            registry: registry.to_string(),
            detail,
        };
        let realm = challenge
            .param("realm")
            .ok_or_else(|| unreachable("Bearer challenge without realm".into()))?;
        let service = challenge.param("service").unwrap_or_default();
        let scope = format!("repository:{repository}:push,pull");
        let token = match creds {
            Some(Credentials::RegistryToken(t)) => t.expose().to_string(),
            Some(Credentials::IdentityToken(refresh)) => {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                    ("service", service),
                    ("scope", scope.as_str()),
                    ("client_id", "flow"),
                ];
                let r = client
                    .post(realm)
                    .form(&form)
                    .send()
                    .await
                    .map_err(|e| unreachable(chain(&e)))?;
                token_from(r, &unauthorized).await?
            }
            other => {
                let mut req = client
                    .get(realm)
                    .query(&[("service", service), ("scope", scope.as_str())]);
                if let Some(Credentials::Basic { username, password }) = other {
                    req = req.basic_auth(username, Some(password.expose()));
                }
                let r = req.send().await.map_err(|e| unreachable(chain(&e)))?;
                token_from(r, &unauthorized).await?
            }
        };
        match jwt_actions(&token, repository) {
            Some(actions) if !actions.iter().any(|a| a == "push" || a == "*") => Err(match creds {
                None => unauthorized("anonymous access may not push; no credentials found".into()),
                Some(_) => PreflightError::Denied {
                    registry: registry.to_string(),
                    repository: repository.to_string(),
                    detail: format!("the token grants [{}]", actions.join(", ")),
                },
            }),
            _ => Ok(()),
        }
    }
}

async fn token_from(
    r: reqwest::Response,
    unauthorized: &dyn Fn(String) -> PreflightError,
) -> Result<String, PreflightError> {
    let status = r.status();
    if !status.is_success() {
        return Err(unauthorized(format!("the token server answered {status}")));
    }
    let body: serde_json::Value = r
        .json()
        .await
        .map_err(|_| unauthorized("the token server's answer is not JSON".into()))?;
    body.get("token")
        .or_else(|| body.get("access_token"))
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| unauthorized("the token server returned no token".into()))
}

/// The actions a JWT grants on `repository`, if the token is a JWT with an `access` claim.
fn jwt_actions(token: &str, repository: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let access = claims.get("access")?.as_array()?;
    let mut actions = Vec::new();
    for a in access {
        if a.get("type").and_then(|t| t.as_str()) == Some("repository")
            && a.get("name").and_then(|n| n.as_str()) == Some(repository)
        {
            for act in a
                .get("actions")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(s) = act.as_str() {
                    actions.push(s.to_string());
                }
            }
        }
    }
    Some(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_access_claim() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"access":[{"type":"repository","name":"org/app","actions":["pull"]}]}"#)
        );
        assert_eq!(
            jwt_actions(&token, "org/app"),
            Some(vec!["pull".to_string()])
        );
        assert_eq!(jwt_actions(&token, "other"), Some(vec![]));
        assert_eq!(jwt_actions("opaque-token", "org/app"), None);
        assert!(
            is_loopback("127.0.0.1:5000") && is_loopback("localhost") && !is_loopback("ghcr.io")
        );
    }
}
