//! Registry credentials, found exactly as the docker CLI finds them, plus the CI
//! environment variables the specification asks for.
//!
//! Order for a registry host: `credHelpers[host]` → `credsStore` → `auths[host]` in
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`); then
//! `DOCKER_USERNAME`/`DOCKER_PASSWORD`; then, for `ghcr.io` only, `GITHUB_ACTOR` +
//! `GITHUB_TOKEN`. Docker Hub's key is `https://index.docker.io/v1/`. Secrets are kept in
//! [`Secret`], whose `Debug` and `Display` never show the value.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use base64::Engine as _;
use fleetflow_oci::{DOCKER_HUB_KEY, is_docker_hub};
use serde::Deserialize;

/// A secret value: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for sending it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or personal access token).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken(Secret),
    /// A bearer token to send as is (`registrytoken`).
    RegistryToken(Secret),
}

/// Where credentials came from (shown to users; never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `credHelpers` entry: helper name.
    CredHelper(String),
    /// `credsStore`: helper name.
    CredsStore(String),
    /// `auths` in this config file.
    ConfigFile(PathBuf),
    /// `DOCKER_USERNAME` / `DOCKER_PASSWORD`.
    DockerEnv,
    /// `GITHUB_ACTOR` / `GITHUB_TOKEN`.
    GithubEnv,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::CredHelper(h) => {
                write!(f, "credential helper docker-credential-{h} (credHelpers)")
            }
            CredentialSource::CredsStore(h) => {
                write!(f, "credential helper docker-credential-{h} (credsStore)")
            }
            CredentialSource::ConfigFile(p) => write!(f, "{}", p.display()),
            CredentialSource::DockerEnv => f.write_str("DOCKER_USERNAME/DOCKER_PASSWORD"),
            CredentialSource::GithubEnv => f.write_str("GITHUB_ACTOR/GITHUB_TOKEN"),
        }
    }
}

/// Why credentials could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    /// `config.json` exists but is not valid.
    #[error("{}: {message}", path.display())]
    MalformedConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the secret).
        message: String,
    },
    /// A helper name that could reach outside `docker-credential-*`.
    #[error("invalid credential helper name `{name}` in {}", path.display())]
    InvalidHelperName {
        /// The name.
        name: String,
        /// The config file.
        path: PathBuf,
    },
    /// The helper failed.
    #[error("docker-credential-{helper} get failed for {registry}: {message}")]
    Helper {
        /// Helper name.
        helper: String,
        /// Registry asked for.
        registry: String,
        /// What it said (its stderr/stdout, not a secret).
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Reads credentials for registries; each helper runs at most once per registry.
pub struct CredentialStore {
    path: PathBuf,
    config: ConfigFile,
    env: HashMap<String, String>,
    cache: Mutex<HashMap<String, Option<(Credentials, CredentialSource)>>>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const ENV_KEYS: &[&str] = &[
    "DOCKER_USERNAME",
    "DOCKER_PASSWORD",
    "GITHUB_ACTOR",
    "GITHUB_TOKEN",
];

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path(docker_config: Option<&Path>) -> PathBuf {
    match docker_config {
        Some(dir) => dir.join("config.json"),
        None => dirs::home_dir()
            .unwrap_or_default()
            .join(".docker")
            .join("config.json"),
    }
}

/// The key and host forms under which `registry` (a normalised host) may be stored.
fn host_of_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

impl CredentialStore {
    /// Load from the process environment (`DOCKER_CONFIG`, `HOME`, and the CI variables).
    pub fn from_env() -> Result<CredentialStore, CredentialError> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let env = ENV_KEYS
            .iter()
            .filter_map(|k| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (k.to_string(), v))
            })
            .collect();
        CredentialStore::new(docker_config_path(dir.as_deref()), env)
    }

    /// Load `config_path` (a missing file means no stored credentials) with `env` as the
    /// environment variables.
    pub fn new(
        config_path: PathBuf,
        env: HashMap<String, String>,
    ) -> Result<CredentialStore, CredentialError> {
        let config = match std::fs::read(&config_path) {
            Ok(bytes) => serde_json::from_slice::<ConfigFile>(&bytes).map_err(|e| {
                CredentialError::MalformedConfig {
                    path: config_path.clone(),
                    message: format!(
                        "not valid Docker config JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(e) => {
                return Err(CredentialError::MalformedConfig {
                    path: config_path,
                    message: e.to_string(),
                });
            }
        };
        for name in config
            .creds_store
            .iter()
            .chain(config.cred_helpers.values())
        {
            if !valid_helper_name(name) {
                return Err(CredentialError::InvalidHelperName {
                    name: name.clone(),
                    path: config_path,
                });
            }
        }
        Ok(CredentialStore {
            path: config_path,
            config,
            env,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The config file read.
    pub fn config_path(&self) -> &Path {
        &self.path
    }

    /// Credentials for `registry` (a host such as `ghcr.io`, `localhost:5000` or
    /// `docker.io`), or `None` for anonymous access.
    pub fn get(
        &self,
        registry: &str,
    ) -> Result<Option<(Credentials, CredentialSource)>, CredentialError> {
        if let Some(hit) = self.cache.lock().expect("credential cache").get(registry) {
            return Ok(hit.clone());
        }
        let found = self.lookup(registry)?;
        self.cache
            .lock()
            .expect("credential cache")
            .insert(registry.to_string(), found.clone());
        Ok(found)
    }

    fn lookup(
        &self,
        registry: &str,
    ) -> Result<Option<(Credentials, CredentialSource)>, CredentialError> {
        let hub = is_docker_hub(registry);
        let server = if hub { DOCKER_HUB_KEY } else { registry };
        let helper_keys: Vec<&str> = if hub {
            vec![DOCKER_HUB_KEY, "index.docker.io", "docker.io"]
        } else {
            vec![registry]
        };
        if let Some(helper) = helper_keys
            .iter()
            .find_map(|k| self.config.cred_helpers.get(*k))
        {
            if let Some(c) = run_helper(helper, server)? {
                return Ok(Some((c, CredentialSource::CredHelper(helper.clone()))));
            }
        } else if let Some(store) = &self.config.creds_store
            && let Some(c) = run_helper(store, server)?
        {
            return Ok(Some((c, CredentialSource::CredsStore(store.clone()))));
        }
        if let Some((key, entry)) = self.auth_entry(registry)
            && let Some(c) = self.decode_entry(key, entry)?
        {
            return Ok(Some((c, CredentialSource::ConfigFile(self.path.clone()))));
        }
        if let (Some(u), Some(p)) = (
            self.env.get("DOCKER_USERNAME"),
            self.env.get("DOCKER_PASSWORD"),
        ) {
            let c = Credentials::Basic {
                username: u.clone(),
                password: Secret::new(p.clone()),
            };
            return Ok(Some((c, CredentialSource::DockerEnv)));
        }
        if registry == "ghcr.io"
            && let (Some(u), Some(t)) = (self.env.get("GITHUB_ACTOR"), self.env.get("GITHUB_TOKEN"))
        {
            let c = Credentials::Basic {
                username: u.clone(),
                password: Secret::new(t.clone()),
            };
            return Ok(Some((c, CredentialSource::GithubEnv)));
        }
        Ok(None)
    }

    fn auth_entry(&self, registry: &str) -> Option<(&str, &AuthEntry)> {
        let exact = if is_docker_hub(registry) {
            DOCKER_HUB_KEY
        } else {
            registry
        };
        if let Some((k, e)) = self.config.auths.get_key_value(exact) {
            return Some((k.as_str(), e));
        }
        // Legacy keys with a scheme or a path (`https://registry.example.com/v1/`) still
        // match their host. Sorted so the choice is stable.
        let mut keys: Vec<&String> = self.config.auths.keys().collect();
        keys.sort();
        keys.into_iter()
            .find(|k| {
                let h = host_of_key(k);
                h == registry || (is_docker_hub(registry) && is_docker_hub(h))
            })
            .map(|k| (k.as_str(), &self.config.auths[k]))
    }

    fn decode_entry(
        &self,
        key: &str,
        e: &AuthEntry,
    ) -> Result<Option<Credentials>, CredentialError> {
        if let Some(t) = e.registrytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::RegistryToken(Secret::new(t.clone()))));
        }
        if let Some(t) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken(Secret::new(t.clone()))));
        }
        if let Some(auth) = e.auth.as_ref().filter(|a| !a.is_empty()) {
            let malformed = |what: &str| CredentialError::MalformedConfig {
                path: self.path.clone(),
                message: format!(
                    "auths[\"{key}\"].auth {what}; run `docker login {}` again",
                    host_of_key(key)
                ),
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| malformed("is not base64"))?;
            let text = String::from_utf8(bytes).map_err(|_| malformed("is not UTF-8"))?;
            let (user, pass) = text
                .split_once(':')
                .ok_or_else(|| malformed("is not user:password"))?;
            return Ok(Some(Credentials::Basic {
                username: user.to_string(),
                password: Secret::new(pass),
            }));
        }
        if let (Some(u), Some(p)) = (&e.username, &e.password) {
            return Ok(Some(Credentials::Basic {
                username: u.clone(),
                password: Secret::new(p.clone()),
            }));
        }
        Ok(None)
    }
}

/// Helper names become part of a program name: letters, digits, `-`, `_` only.
fn valid_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `docker-credential-NAME get` with `server` on stdin.
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, CredentialError> {
    let program = format!("docker-credential-{name}");
    let fail = |message: String| CredentialError::Helper {
        helper: name.to_string(),
        registry: server.to_string(),
        message,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run {program}: {e} (is it installed and on PATH?)"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let said = format!(
            "{} {}",
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(said.trim().to_string()));
    }
    let reply: HelperReply = serde_json::from_str(stdout.trim())
        .map_err(|_| fail("the helper's answer is not the expected JSON".to_string()))?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if reply.username == "<token>" {
        Credentials::IdentityToken(Secret::new(reply.secret))
    } else {
        Credentials::Basic {
            username: reply.username,
            password: Secret::new(reply.secret),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str, env: &[(&str, &str)]) -> CredentialStore {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.json");
        std::fs::write(&p, json).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s = CredentialStore::new(p, env).unwrap();
        std::mem::forget(t);
        s
    }

    fn basic(u: &str, p: &str) -> Credentials {
        Credentials::Basic {
            username: u.into(),
            password: Secret::new(p),
        }
    }

    #[test]
    fn auths_forms_and_hub_key() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("hubuser:p+ss/w=rd");
        let s = store(
            &format!(
                r#"{{"auths": {{
                "{DOCKER_HUB_KEY}": {{"auth": "{b64}"}},
                "https://legacy.example.com/v1/": {{"username": "u", "password": "p"}},
                "ghcr.io": {{"identitytoken": "refresh"}},
                "reg.example.com": {{"registrytoken": "bearer"}}
            }}}}"#
            ),
            &[],
        );
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                s.get(hub).unwrap().unwrap().0,
                basic("hubuser", "p+ss/w=rd")
            );
        }
        assert_eq!(
            s.get("legacy.example.com").unwrap().unwrap().0,
            basic("u", "p")
        );
        assert_eq!(
            s.get("ghcr.io").unwrap().unwrap().0,
            Credentials::IdentityToken(Secret::new("refresh"))
        );
        assert_eq!(
            s.get("reg.example.com").unwrap().unwrap().0,
            Credentials::RegistryToken(Secret::new("bearer"))
        );
        assert_eq!(s.get("other.io").unwrap(), None);
    }

    #[test]
    fn env_fallbacks() {
        let s = store("{}", &[("GITHUB_ACTOR", "octo"), ("GITHUB_TOKEN", "ghs_x")]);
        assert_eq!(
            s.get("ghcr.io").unwrap().unwrap(),
            (basic("octo", "ghs_x"), CredentialSource::GithubEnv)
        );
        assert_eq!(
            s.get("quay.io").unwrap(),
            None,
            "GitHub token only for ghcr.io"
        );
        let s = store(
            "{}",
            &[
                ("DOCKER_USERNAME", "ci"),
                ("DOCKER_PASSWORD", "pw"),
                ("GITHUB_ACTOR", "o"),
                ("GITHUB_TOKEN", "t"),
            ],
        );
        assert_eq!(
            s.get("ghcr.io").unwrap().unwrap().1,
            CredentialSource::DockerEnv
        );
    }

    #[test]
    fn malformed_and_invalid_helpers_are_errors_without_secrets() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.json");
        std::fs::write(&p, "{ not json").unwrap();
        let e = CredentialStore::new(p.clone(), HashMap::new()).unwrap_err();
        assert!(e.to_string().contains("config.json"), "{e}");
        std::fs::write(&p, r#"{"credsStore": "../../bin/sh"}"#).unwrap();
        assert!(matches!(
            CredentialStore::new(p.clone(), HashMap::new()),
            Err(CredentialError::InvalidHelperName { .. })
        ));
        std::fs::write(
            &p,
            r#"{"auths": {"r.io": {"auth": "c2VjcmV0LW5vLWNvbG9u"}}}"#,
        )
        .unwrap();
        let e = CredentialStore::new(p, HashMap::new())
            .unwrap()
            .get("r.io")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("user:password") && !e.contains("secret-no-colon"),
            "{e}"
        );
        // A missing file is anonymous.
        let s = CredentialStore::new(t.path().join("nope.json"), HashMap::new()).unwrap();
        assert_eq!(s.get("r.io").unwrap(), None);
    }

    #[test]
    fn secrets_never_debug_print() {
        let c = basic("u", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let s = store(
            r#"{"auths": {"r.io": {"password": "hunter2", "username": "u"}}}"#,
            &[],
        );
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
