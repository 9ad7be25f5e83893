//! Who we are to one registry: the challenge it answered `/v2/` with, the `Authorization`
//! for a request (Basic; Bearer tokens requested per scope, cached until shortly before
//! they expire and dropped on a 401; identity tokens through the OAuth2 refresh grant;
//! registry tokens as they are), and the one rule for token realms: credentials go only
//! to a realm over TLS, or on a loopback literal, or with `insecure`.
//!
//! [`Session::token_request`] is the only place that attaches credentials to a token
//! realm request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::WWW_AUTHENTICATE;

use super::error::{RegistryError, chain};
use super::retry::{Attempt, Retry, retry_after, transient};
use super::transport::{Transport, read_limited, realm_may_receive_credentials};
use crate::challenge::Challenge;
use crate::credentials::Credentials;

/// A token server's answer is small; this bounds what a hostile one can make us hold.
const MAX_TOKEN_BODY: usize = 1 << 20;

/// How long a token lives when the token server does not say (the spec's default).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

struct Token {
    value: String,
    expires: Instant,
}

#[derive(Default)]
struct State {
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
}

/// Authentication state of one client.
pub(crate) struct Session {
    creds: Option<Credentials>,
    insecure: bool,
    state: tokio::sync::Mutex<State>,
}

/// The challenge of a 401 answer, if it has one.
pub(crate) fn challenge_of(resp: &reqwest::Response) -> Option<Challenge> {
    resp.headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse)
}

impl Session {
    pub(crate) fn new(creds: Option<Credentials>, insecure: bool) -> Session {
        Session {
            creds,
            insecure,
            state: tokio::sync::Mutex::default(),
        }
    }

    /// Are there credentials (else: anonymous)?
    pub(crate) fn has_credentials(&self) -> bool {
        self.creds.is_some()
    }

    /// Record the challenge `/v2/` answered with.
    pub(crate) fn set_challenge(&mut self, ch: Challenge) {
        self.state.get_mut().challenge = Some(ch);
    }

    /// The challenge's scheme (`basic`, `bearer`), if the registry asked for one.
    pub(crate) async fn scheme(&self) -> Option<String> {
        let state = self.state.lock().await;
        state.challenge.as_ref().map(|c| c.scheme.clone())
    }

    /// A 401 came back for `scopes`: forget their token, and take the new challenge.
    pub(crate) async fn refused(&self, scopes: &[String], challenge: Option<Challenge>) {
        let mut state = self.state.lock().await;
        state.tokens.remove(&scopes.join(" "));
        if let Some(ch) = challenge {
            state.challenge = Some(ch);
        }
    }

    /// The bearer token last used for `scopes` (even if expired since).
    pub(crate) async fn bearer_token(&self, scopes: &[String]) -> Option<String> {
        if let Some(Credentials::RegistryToken(t)) = &self.creds {
            return Some(t.expose().to_string());
        }
        let state = self.state.lock().await;
        state.tokens.get(&scopes.join(" ")).map(|t| t.value.clone())
    }

    /// The `Authorization` value for a request needing `scopes` (`None`: the registry
    /// asked for none). Fetches a token when there is no fresh one.
    pub(crate) async fn authorization(
        &self,
        t: &Transport,
        retry: &Retry,
        scopes: &[String],
    ) -> Result<Option<String>, RegistryError> {
        let mut state = self.state.lock().await;
        let Some(ch) = state.challenge.clone() else {
            return Ok(None);
        };
        match ch.scheme.as_str() {
            "basic" => match &self.creds {
                Some(Credentials::Basic { username, password }) => {
                    let raw = format!("{username}:{}", password.expose());
                    Ok(Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(raw)
                    )))
                }
                _ => Err(RegistryError::Unauthorized {
                    registry: t.registry.clone(),
                    detail: "the registry needs a user name and password; none found".into(),
                }),
            },
            "bearer" => {
                if let Some(Credentials::RegistryToken(token)) = &self.creds {
                    return Ok(Some(format!("Bearer {}", token.expose())));
                }
                let key = scopes.join(" ");
                if let Some(token) = state.tokens.get(&key)
                    && token.expires > Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", token.value)));
                }
                let token = self.fetch_token(t, retry, &ch, scopes).await?;
                let header = format!("Bearer {}", token.value);
                state.tokens.insert(key, token);
                Ok(Some(header))
            }
            other => Err(RegistryError::Protocol {
                registry: t.registry.clone(),
                message: format!("unsupported auth scheme `{other}`"),
            }),
        }
    }

    /// The token request to `realm`, with our credentials if there are any: Basic for a
    /// user and password, the OAuth2 refresh grant for an identity token. Refused (before
    /// anything is sent) when the realm may not receive credentials.
    fn token_request(
        &self,
        t: &Transport,
        realm: &url::Url,
        service: &str,
        scopes: &[String],
    ) -> Result<reqwest::RequestBuilder, RegistryError> {
        let creds = self
            .creds
            .as_ref()
            .filter(|c| !matches!(c, Credentials::RegistryToken(_)));
        if creds.is_some() && !realm_may_receive_credentials(realm, self.insecure) {
            return Err(RegistryError::Unauthorized {
                registry: t.registry.clone(),
                detail: format!(
                    "refusing to send credentials to token realm `{realm}` without TLS: it is plain HTTP and not a loopback address"
                ),
            });
        }
        let joined = scopes.join(" ");
        Ok(match creds {
            Some(Credentials::IdentityToken(refresh)) => {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                    ("service", service),
                    ("client_id", "flow"),
                    ("scope", &joined),
                ];
                t.realm_http.post(realm.clone()).form(&form)
            }
            creds => {
                let mut q: Vec<(&str, &str)> = vec![("service", service)];
                q.extend(scopes.iter().map(|s| ("scope", s.as_str())));
                let req = t.realm_http.get(realm.clone()).query(&q);
                match creds {
                    Some(Credentials::Basic { username, password }) => {
                        req.basic_auth(username, Some(password.expose()))
                    }
                    _ => req,
                }
            }
        })
    }

    async fn fetch_token(
        &self,
        t: &Transport,
        retry: &Retry,
        ch: &Challenge,
        scopes: &[String],
    ) -> Result<Token, RegistryError> {
        let protocol = |message: String| RegistryError::Protocol {
            registry: t.registry.clone(),
            message,
        };
        let unauthorized = |detail: String| RegistryError::Unauthorized {
            registry: t.registry.clone(),
            detail,
        };
        let realm = ch
            .param("realm")
            .ok_or_else(|| protocol("Bearer challenge without realm".into()))?;
        let realm_url = url::Url::parse(realm)
            .map_err(|_| protocol(format!("token realm `{realm}` is not a URL")))?;
        let service = ch.param("service").unwrap_or_default();
        let (realm_url, unauthorized) = (&realm_url, &unauthorized);
        retry
            .run(|_| async move {
                let req = match self.token_request(t, realm_url, service, scopes) {
                    Ok(r) => r,
                    Err(e) => return Attempt::Done(Err(e)),
                };
                let asked = Instant::now();
                let resp = match t.execute(Some("token"), req).await {
                    Ok(r) => r,
                    Err(e) => {
                        let message = format!(
                            "token server {}: {}",
                            realm_url.origin().ascii_serialization(),
                            chain(&e)
                        );
                        return Attempt::Again(
                            Err(RegistryError::Unreachable {
                                registry: t.registry.clone(),
                                message,
                            }),
                            None,
                        );
                    }
                };
                let status = resp.status();
                if transient(status) {
                    let hint = retry_after(resp.headers());
                    let e = RegistryError::Unreachable {
                        registry: t.registry.clone(),
                        message: format!("token server answered {status}"),
                    };
                    return Attempt::Again(Err(e), hint);
                }
                if !status.is_success() {
                    let e = unauthorized(format!("the token server answered {status}"));
                    return Attempt::Done(Err(e));
                }
                Attempt::Done(token_from(resp, asked, unauthorized).await)
            })
            .await
    }
}

/// The token in a token server's answer, and until when to use it: a little before it
/// expires (5 s, or a fifth of a shorter lifetime), counted from when it was asked for.
async fn token_from(
    resp: reqwest::Response,
    asked: Instant,
    unauthorized: &(dyn Fn(String) -> RegistryError + Sync),
) -> Result<Token, RegistryError> {
    let body = read_limited(resp, MAX_TOKEN_BODY)
        .await
        .map_err(|e| unauthorized(format!("reading the token: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| unauthorized("the token server's answer is not JSON".into()))?;
    let value = v
        .get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the token server returned no token".into()))?
        .to_string();
    let lifetime = v
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .map_or(DEFAULT_LIFETIME, Duration::from_secs);
    let early = (lifetime / 5).min(Duration::from_secs(5));
    Ok(Token {
        value,
        expires: asked + lifetime - early,
    })
}

/// The actions a JWT grants on `repository`, if the token is a JWT with an `access`
/// claim (as Docker's token servers issue); `None` for an opaque token.
pub(crate) fn jwt_actions(token: &str, repository: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let access = claims.get("access")?.as_array()?;
    let actions = access
        .iter()
        .filter(|a| {
            a.get("type").and_then(|t| t.as_str()) == Some("repository")
                && a.get("name").and_then(|n| n.as_str()) == Some(repository)
        })
        .flat_map(|a| {
            a.get("actions")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
        })
        .filter_map(|act| act.as_str().map(str::to_string))
        .collect();
    Some(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(claims))
    }

    #[test]
    fn jwt_access_claim() {
        let token = jwt(
            r#"{"access":[{"type":"repository","name":"org/app","actions":["pull"]},{"type":"repository","name":"org/app","actions":["push"]},{"type":"registry","name":"org/app","actions":["*"]}]}"#,
        );
        assert_eq!(
            jwt_actions(&token, "org/app"),
            Some(vec!["pull".to_string(), "push".to_string()])
        );
        assert_eq!(jwt_actions(&token, "other"), Some(vec![]));
        assert_eq!(
            jwt_actions(&jwt(r#"{"access":[]}"#), "org/app"),
            Some(vec![])
        );
        // Not a JWT, or a JWT without an access claim: nothing to check.
        assert_eq!(jwt_actions("opaque-token", "org/app"), None);
        assert_eq!(jwt_actions(&jwt(r#"{"sub":"me"}"#), "org/app"), None);
    }
}
