//! The push pre-flight: before any build, may our credentials (or anonymous access) push
//! to a repository? A wrong password then fails in a second instead of after a long
//! build. It takes the client's own request path, so it authenticates, retries and
//! guards credentials exactly as a push would.

use super::auth::jwt_actions;
use super::connection::{RegistryClient, push_scope};
use super::error::RegistryError;

impl RegistryClient {
    /// Check that this client may push to `repository`: `GET /v2/` authorised for the
    /// push scope (Basic credentials, or a token requested for `pull,push`) must succeed,
    /// and when the token is a JWT with an `access` claim (as Docker's token servers
    /// issue) it must grant `push`.
    ///
    /// [`RegistryError::Unauthorized`]: credentials refused, missing, or not sent (a
    /// plain-HTTP token realm); [`RegistryError::Denied`]: authenticated without push
    /// rights; anything else: the registry could not be asked.
    pub async fn check_push(&self, repository: &str) -> Result<(), RegistryError> {
        let scopes = [push_scope(repository)];
        let url = self.transport.url("/v2/");
        let resp = self
            .send(&scopes, true, &|| self.transport.http.get(&url))
            .await?;
        let status = resp.status();
        if status == reqwest::StatusCode::FORBIDDEN {
            return Err(self.fail(repository, "GET /v2/", resp).await);
        }
        if !status.is_success() {
            return Err(self.unreachable(format!(
                "GET {} answered {status}",
                url.split('?').next().unwrap_or(&url)
            )));
        }
        if self.session.scheme().await.as_deref() != Some("bearer") {
            return Ok(());
        }
        let Some(token) = self.session.bearer_token(&scopes).await else {
            return Ok(());
        };
        match jwt_actions(&token, repository) {
            Some(actions) if !actions.iter().any(|a| a == "push" || a == "*") => {
                Err(if self.session.has_credentials() {
                    RegistryError::Denied {
                        registry: self.registry().to_string(),
                        repository: repository.to_string(),
                        detail: format!(
                            "no push access: the token grants [{}]",
                            actions.join(", ")
                        ),
                    }
                } else {
                    RegistryError::Unauthorized {
                        registry: self.registry().to_string(),
                        detail: "anonymous access may not push; no credentials found".into(),
                    }
                })
            }
            _ => Ok(()),
        }
    }
}
