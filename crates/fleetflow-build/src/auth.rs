//! Registry credentials on the build side: what the engine receives (`X-Registry-Auth`
//! for a push, `X-Registry-Config` for the base images of a build, in the docker CLI's
//! payload), which engine errors mean "authentication", and push access: before anything
//! is built, every target repository is asked whether our credentials may push.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard::auth::DockerCredentials;
use fleetflow_oci::{DOCKER_HUB, DOCKER_HUB_KEY, api_host};
use fleetflow_registry::{
    ClientOptions, CredentialError, CredentialStore, Credentials, RegistryClient, RegistryError,
};

use crate::plan::BuildPlan;

/// Does a registry/engine error message mean "authentication or authorisation"?
pub fn is_auth_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "unauthorized",
        "authentication required",
        "denied",
        "no basic auth credentials",
        "authorization failed",
        "incorrect username or password",
        "401",
        "403 forbidden",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The header payload bollard sends for `creds` to `registry`.
pub fn docker_credentials(
    registry: &str,
    creds: Option<&Credentials>,
) -> Option<DockerCredentials> {
    let serveraddress = Some(if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        api_host(registry).to_string()
    });
    match creds? {
        Credentials::Basic { username, password } => Some(DockerCredentials {
            username: Some(username.clone()),
            password: Some(password.expose().to_string()),
            serveraddress,
            ..Default::default()
        }),
        Credentials::IdentityToken(t) => Some(DockerCredentials {
            identitytoken: Some(t.expose().to_string()),
            serveraddress,
            ..Default::default()
        }),
        Credentials::RegistryToken(t) => Some(DockerCredentials {
            registrytoken: Some(t.expose().to_string()),
            serveraddress,
            ..Default::default()
        }),
    }
}

/// `X-Registry-Config` for a build: credentials for each of `registries` that has some,
/// keyed by the server address the daemon looks up (`None` when there are none).
pub fn registry_config(
    registries: &[String],
    credentials: &HashMap<String, Credentials>,
) -> Option<HashMap<String, DockerCredentials>> {
    let config: HashMap<String, DockerCredentials> = registries
        .iter()
        .filter_map(|r| {
            let creds = docker_credentials(r, credentials.get(r))?;
            Some((creds.serveraddress.clone()?, creds))
        })
        .collect();
    (!config.is_empty()).then_some(config)
}

/// Why `flow build --push` may not start.
#[derive(Debug, thiserror::Error)]
pub enum PushAccessError {
    /// An image names neither a registry nor a namespace.
    #[error("{reference} ({service}) names no registry")]
    NoRegistry {
        /// The service.
        service: String,
        /// Its first reference.
        reference: String,
    },
    /// The credential configuration cannot be read.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The registry refused our credentials, or our right to push.
    #[error("{detail}")]
    Refused {
        /// Registry host.
        registry: String,
        /// The reference that was checked.
        target: String,
        /// What the registry said (never a secret).
        detail: String,
    },
    /// The registry could not be reached.
    #[error("{message}")]
    Unreachable {
        /// The reference that was checked.
        target: String,
        /// Why.
        message: String,
    },
}

/// Every image must name a registry (or at least a namespace) to be pushed.
pub fn check_registries(plan: &BuildPlan) -> Result<(), PushAccessError> {
    for b in &plan.builds {
        if b.repository.domain.is_none() && !b.repository.path.contains('/') {
            return Err(PushAccessError::NoRegistry {
                service: b.service.clone(),
                reference: b.references()[0].to_string(),
            });
        }
    }
    Ok(())
}

/// What the pre-flight leaves for the push: credentials and one connected client per
/// registry (the publisher moves tags with these clients instead of reconnecting).
#[derive(Debug, Default)]
pub struct PushAccess {
    /// Credentials per registry host (absent: anonymous).
    pub credentials: HashMap<String, Credentials>,
    /// The client the check used, per registry host.
    pub clients: HashMap<String, Arc<RegistryClient>>,
}

fn refused(registry: &str, target: &str, e: RegistryError) -> PushAccessError {
    match e {
        RegistryError::Unauthorized { .. } | RegistryError::Denied { .. } => {
            PushAccessError::Refused {
                registry: registry.to_string(),
                target: target.to_string(),
                detail: e.to_string(),
            }
        }
        RegistryError::Unreachable { message, .. } => PushAccessError::Unreachable {
            target: target.to_string(),
            message,
        },
        e => PushAccessError::Unreachable {
            target: target.to_string(),
            message: e.to_string(),
        },
    }
}

/// Before anything is built: every image has a registry, credentials are readable, and
/// every target repository accepts them for push (`RegistryClient::check_push`, the one
/// auth stack). Returns the credentials and the connected client per registry.
pub async fn push_access(
    plan: &BuildPlan,
    store: Result<&CredentialStore, &CredentialError>,
) -> Result<PushAccess, PushAccessError> {
    check_registries(plan)?;
    let store = store.map_err(|e| PushAccessError::Credentials(e.clone()))?;
    // One check per repository (push rights are per repository), credentials per registry.
    let mut creds = HashMap::new();
    let mut checks = BTreeMap::new();
    for b in &plan.builds {
        let registry = b.repository.registry().to_string();
        if !creds.contains_key(&registry) {
            let found = store.get(&registry)?;
            creds.insert(registry.clone(), found.map(|(c, _)| c));
        }
        checks
            .entry((registry, b.repository.path.clone()))
            .or_insert_with(|| b.references()[0].to_string());
    }
    let mut registries: Vec<&String> = creds.keys().collect();
    registries.sort();
    let connected = futures_util::future::join_all(
        registries
            .iter()
            .map(|r| RegistryClient::connect(r, creds[*r].clone(), ClientOptions::default())),
    )
    .await;
    let mut clients = HashMap::new();
    for (registry, result) in registries.into_iter().zip(connected) {
        match result {
            Ok(c) => {
                clients.insert(registry.clone(), Arc::new(c));
            }
            Err(e) => {
                let target = checks.iter().find(|((r, _), _)| r == registry);
                let target = target.map_or(registry.as_str(), |(_, t)| t.as_str());
                return Err(refused(registry, target, e));
            }
        }
    }
    let results = futures_util::future::join_all(
        checks
            .keys()
            .map(|(registry, path)| clients[registry].check_push(path)),
    )
    .await;
    for (((registry, _), target), result) in checks.iter().zip(results) {
        if let Err(e) = result {
            return Err(refused(registry, target, e));
        }
    }
    Ok(PushAccess {
        credentials: creds
            .into_iter()
            .filter_map(|(r, c)| Some((r, c?)))
            .collect(),
        clients,
    })
}

/// Credentials for the registries of the base images (`FROM`), sent with each build so
/// that private base images can be pulled. Problems here are warnings (returned, not
/// fatal): most base images need no credentials, and the engine reports a real pull
/// failure itself.
pub fn base_credentials(
    plan: &BuildPlan,
    store: Result<&CredentialStore, &CredentialError>,
) -> (HashMap<String, Credentials>, Vec<CredentialError>) {
    let mut out = HashMap::new();
    let mut warnings = Vec::new();
    let mut registries: Vec<&String> = plan
        .builds
        .iter()
        .flat_map(|b| &b.base_registries)
        .collect();
    registries.sort();
    registries.dedup();
    if registries.is_empty() {
        return (out, warnings);
    }
    let store = match store {
        Ok(s) => s,
        Err(e) => return (out, vec![e.clone()]),
    };
    for registry in registries {
        match store.get(registry) {
            Ok(Some((c, _))) => {
                out.insert(registry.clone(), c);
            }
            Ok(None) => {}
            Err(e) => warnings.push(e),
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_for_the_daemon() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: fleetflow_registry::Secret::new("p"),
        };
        let d = docker_credentials("docker.io", Some(&c)).unwrap();
        assert_eq!(
            d.serveraddress.as_deref(),
            Some("https://index.docker.io/v1/")
        );
        assert_eq!(d.password.as_deref(), Some("p"));
        assert!(docker_credentials("ghcr.io", None).is_none());
    }
}
