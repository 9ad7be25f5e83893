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
        let docker = Docker::connect_with_host(&host).map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        let version = docker.version().await.map_err(unreachable)?;
        Ok(Engine {
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

    /// The engine's version string.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }
}
