//! [`RegistryClient`]: connecting (the transport: verified HTTPS, plain HTTP only for
//! loopback registries as Docker allows, or with `insecure`; then the `/v2/` ping that
//! tells how the registry wants to be authenticated) and the authenticated request path
//! every API call takes ([`RegistryClient::send`]).

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{StatusCode, header};

use super::auth::{Session, challenge_of};
use super::error::{RegistryError, chain};
use super::options::ClientOptions;
use super::retry::{Attempt, Retry, retry_after, transient};
use super::transport::{Transport, error_text};
use crate::credentials::Credentials;
use fleetflow_oci::{api_host, is_loopback};

/// A client for one registry.
pub struct RegistryClient {
    pub(crate) transport: Transport,
    pub(crate) session: Session,
    pub(crate) retry: Retry,
    pub(crate) opts: ClientOptions,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.transport.registry)
            .field("base", &self.transport.base)
            .field(
                "credentials",
                &self.session.has_credentials().then_some("<redacted>"),
            )
            .finish()
    }
}

/// The token scope to pull `repo`.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The token scope to push `repo`.
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

impl RegistryClient {
    /// Connect to `registry` (a host as in a reference, `docker.io` for Docker Hub) and
    /// learn how it wants to be authenticated.
    pub async fn connect(
        registry: &str,
        creds: Option<Credentials>,
        opts: ClientOptions,
    ) -> Result<RegistryClient, RegistryError> {
        let host = api_host(registry).to_string();
        let unreachable = |message: String| RegistryError::Unreachable {
            registry: registry.to_string(),
            message,
        };
        let protocol = |message: String| RegistryError::Protocol {
            registry: registry.to_string(),
            message,
        };
        let mut client = RegistryClient {
            transport: Transport::new(registry, &host, &opts).map_err(unreachable)?,
            session: Session::new(creds, opts.insecure),
            retry: Retry {
                retries: opts.retry_attempts,
                base: opts.backoff,
            },
            opts,
        };
        let plain_ok = client.opts.insecure || is_loopback(&host);
        let resp = match client.ping().await {
            Ok(r) => r,
            Err(tls) if plain_ok => {
                client.transport.base = format!("http://{host}");
                let r = client.ping().await.map_err(|e| unreachable(chain(&e)))?;
                if r.status() == StatusCode::BAD_REQUEST {
                    // A TLS server refusing plain HTTP: the TLS error is the real one.
                    return Err(unreachable(format!(
                        "{}; if the registry uses its own CA, put it in {}/{host}/ca.crt (or pass --cert-dir; --insecure skips verification)",
                        chain(&tls),
                        client.opts.certs_dir.display()
                    )));
                }
                r
            }
            Err(e) => return Err(unreachable(chain(&e))),
        };
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                let ch = challenge_of(&resp)
                    .ok_or_else(|| protocol("401 without a WWW-Authenticate challenge".into()))?;
                client.session.set_challenge(ch);
            }
            s => {
                return Err(protocol(format!(
                    "GET {}/v2/ answered {s}; is this a registry?",
                    client.transport.base
                )));
            }
        }
        Ok(client)
    }

    /// `GET /v2/`, unauthenticated, retried on transient failures.
    async fn ping(&self) -> Result<reqwest::Response, reqwest::Error> {
        let url = &self.transport.url("/v2/");
        let https = self.transport.base.starts_with("https");
        self.retry
            .run(|_| async move {
                match self
                    .transport
                    .execute(None, self.transport.http.get(url))
                    .await
                {
                    Ok(r) if transient(r.status()) => {
                        let hint = retry_after(r.headers());
                        Attempt::Again(Ok(r), hint)
                    }
                    Ok(r) => Attempt::Done(Ok(r)),
                    // A TLS handshake against a plain-HTTP server will not get better.
                    Err(e) if e.is_connect() && https => Attempt::Done(Err(e)),
                    Err(e) => Attempt::Again(Err(e), None),
                }
            })
            .await
    }

    /// The registry host this client talks to.
    pub fn registry(&self) -> &str {
        &self.transport.registry
    }

    /// `https://host` or `http://host`.
    pub fn base_url(&self) -> &str {
        &self.transport.base
    }

    /// Send a request made by `make` (called once per attempt), with auth for `scopes`.
    /// Transient failures are retried when `retry` is set; a 401 re-runs the challenge
    /// once. The response is returned whatever its status otherwise.
    pub(crate) async fn send(
        &self,
        scopes: &[String],
        retry: bool,
        make: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        let policy = if retry { self.retry } else { Retry::ONCE };
        let reauthed = &AtomicBool::new(false);
        policy
            .run(|_| async move {
                loop {
                    let mut req = make();
                    match self
                        .session
                        .authorization(&self.transport, &self.retry, scopes)
                        .await
                    {
                        Ok(Some(h)) => req = req.header(header::AUTHORIZATION, h),
                        Ok(None) => {}
                        Err(e) => return Attempt::Done(Err(e)),
                    }
                    let resp = match self.transport.execute(None, req).await {
                        Ok(r) => r,
                        Err(e) => return Attempt::Again(Err(self.unreachable(chain(&e))), None),
                    };
                    match resp.status() {
                        StatusCode::UNAUTHORIZED if !reauthed.swap(true, Ordering::SeqCst) => {
                            self.session.refused(scopes, challenge_of(&resp)).await;
                        }
                        StatusCode::UNAUTHORIZED => {
                            return Attempt::Done(Err(RegistryError::Unauthorized {
                                registry: self.transport.registry.clone(),
                                detail: error_text(resp).await,
                            }));
                        }
                        s if transient(s) => {
                            let hint = retry_after(resp.headers());
                            return Attempt::Again(Ok(resp), hint);
                        }
                        _ => return Attempt::Done(Ok(resp)),
                    }
                }
            })
            .await
    }

    pub(crate) fn unreachable(&self, message: String) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.transport.registry.clone(),
            message,
        }
    }

    pub(crate) fn protocol(&self, message: String) -> RegistryError {
        RegistryError::Protocol {
            registry: self.transport.registry.clone(),
            message,
        }
    }

    /// The error for an answer that is not what `what` needed.
    pub(crate) async fn fail(
        &self,
        repo: &str,
        what: &str,
        resp: reqwest::Response,
    ) -> RegistryError {
        let status = resp.status();
        let text = error_text(resp).await;
        let registry = self.transport.registry.clone();
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                registry,
                what: format!("{what} ({text})"),
            },
            StatusCode::FORBIDDEN => RegistryError::Denied {
                registry,
                repository: repo.to_string(),
                detail: text,
            },
            _ => RegistryError::Protocol {
                registry,
                message: format!("{what}: {text}"),
            },
        }
    }
}
