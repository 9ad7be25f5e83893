//! Registry host rules: which API host serves a registry name (Docker Hub's), the key
//! Docker stores Hub credentials under, and which hosts are loopback (where Docker, and
//! flow, accept plain HTTP).

use crate::reference::DOCKER_HUB;

/// The key under which Docker stores Docker Hub credentials in `config.json`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The API host for a registry (Docker Hub's registry is `registry-1.docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// Is `host` one of Docker Hub's names?
pub fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Is `host` (with optional port) a loopback name or address literal? A name that merely
/// resolves to loopback is not: it could resolve elsewhere tomorrow.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("ghcr.io"), "ghcr.io");
        assert!(
            is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:80")
        );
        assert!(!is_loopback("ghcr.io") && !is_loopback("registry.localtest:5000"));
        assert!(is_docker_hub("index.docker.io") && !is_docker_hub("ghcr.io"));
    }
}
