//! The Docker Engine connection: `DOCKER_HOST` (unix, tcp, tcp+TLS with
//! `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`), with the API version negotiated so that
//! Debian's engine (20.10, API 1.41) and current engines both work.

use bollard::Docker;

use crate::error::BuildError;

/// The default socket when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    host: String,
    api_version: String,
    server_version: String,
    platform: String,
}

impl Engine {
    /// Connect as the docker CLI would, then negotiate the API version.
    pub async fn connect() -> Result<Engine, BuildError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let unreachable = |e: bollard::errors::Error| BuildError::EngineUnreachable {
            host: host.clone(),
            message: e.to_string(),
        };
        let docker = Docker::connect_with_host(&host)
            .map_err(unreachable)?
            .with_request_modifier(reencode_registry_headers)
            // bollard's 120 s default covers waiting for the response headers, which for a
            // build only arrive once the whole context is uploaded.
            .with_timeout(std::time::Duration::from_secs(3600));
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        let version = docker.version().await.map_err(unreachable)?;
        let platform = format!(
            "{}/{}",
            version.os.as_deref().unwrap_or("linux"),
            version.arch.as_deref().unwrap_or("unknown")
        );
        Ok(Engine {
            platform,
            api_version: docker.client_version().to_string(),
            server_version: version.version.unwrap_or_else(|| "unknown".into()),
            docker,
            host,
        })
    }

    /// Where we are connected.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The negotiated API version.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The platform the engine builds for, `os/arch`.
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// The engine's version string.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }
}

/// bollard encodes `X-Registry-Auth`/`X-Registry-Config` with standard base64, but the
/// daemon decodes them as URL-safe base64 (`base64.URLEncoding`), so passwords whose JSON
/// encodes to `+` or `/` break. Re-encode them the way the docker CLI does.
fn reencode_registry_headers(mut req: bollard::BollardRequest) -> bollard::BollardRequest {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    for name in ["x-registry-auth", "x-registry-config"] {
        let Some(value) = req.headers().get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Ok(raw) = STANDARD.decode(value) else {
            continue;
        };
        if let Ok(v) = http::HeaderValue::from_str(&URL_SAFE.encode(raw)) {
            req.headers_mut().insert(name, v);
        }
    }
    req
}

/// The header value the daemon receives for `json` (exposed for tests).
pub fn registry_auth_header(json: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn registry_auth_is_url_safe() {
        // A password whose standard base64 JSON has `+` and `/`.
        let json = r#"{"username":"flowtest","password":"p+ss/w=rd+/==>>??"}"#;
        let std = base64::engine::general_purpose::STANDARD.encode(json);
        assert!(std.contains('+') || std.contains('/'), "{std}");
        let mut req = bollard::BollardRequest::new(bollard::body_full(bytes::Bytes::new()));
        req.headers_mut().insert(
            "X-Registry-Auth",
            http::HeaderValue::from_str(&std).unwrap(),
        );
        let req = reencode_registry_headers(req);
        let sent = req.headers()["x-registry-auth"].to_str().unwrap();
        assert_eq!(sent, registry_auth_header(json));
        assert!(!sent.contains('+') && !sent.contains('/'));
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE
                .decode(sent)
                .unwrap(),
            json.as_bytes()
        );
    }
}
