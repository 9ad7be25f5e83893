//! The test environment written by `scripts/testenv.sh` (`$DIR/env`), typed.

use std::path::PathBuf;
use std::sync::OnceLock;

/// A required test-environment variable: a missing one fails the test with instructions.
pub(crate) fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test.sh, which starts dockerd \
             and the registries (or `source` the env file of `scripts/testenv.sh up`)"
        )
    })
}

/// Everything `scripts/testenv.sh up` started, read once per test binary.
#[derive(Debug)]
pub struct TestEnv {
    /// The Docker Engines; the first is the default one.
    pub engines: Vec<Engine>,
    /// The registries, one per [`RegistryKind`].
    pub registries: Vec<Registry>,
    /// The base image every engine has (`FLOW_TEST_BASE_IMAGE`, a busybox): nothing can
    /// be pulled, so every test Dockerfile starts `FROM` it.
    pub base_image: String,
    /// The token server behind the token registry.
    pub token_server: TokenServer,
}

/// A Docker Engine of the environment.
#[derive(Debug, Clone)]
pub struct Engine {
    /// A name for messages (`default` for the one of `DOCKER_HOST`).
    pub name: String,
    /// Its `DOCKER_HOST` (`unix://…/docker.sock`).
    pub host: String,
    /// The same engine over TCP with mutual TLS, where it has such an endpoint.
    pub tls: Option<EngineTls>,
}

/// An engine's TCP endpoint with mutual TLS, as the docker CLI reads it.
#[derive(Debug, Clone)]
pub struct EngineTls {
    /// `tcp://127.0.0.1:PORT` (for `DOCKER_HOST`).
    pub host: String,
    /// The folder with `ca.pem`, `cert.pem` and `key.pem` (for `DOCKER_CERT_PATH`).
    pub cert_path: PathBuf,
}

/// What a registry of the environment exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    /// HTTP without auth.
    Plain,
    /// HTTP with htpasswd basic auth.
    Basic,
    /// HTTPS with the test CA, no auth.
    Tls,
    /// HTTPS with the test CA (installed in `/etc/docker/certs.d`) and basic auth.
    TlsBasic,
    /// Bearer tokens from `tests/support/token_server.py`.
    Token,
    /// HTTP, read-only: uploads are refused with 405.
    ReadOnly,
}

impl RegistryKind {
    /// Every kind, in the order of [`TestEnv::registries`].
    pub const ALL: [RegistryKind; 6] = [
        RegistryKind::Plain,
        RegistryKind::Basic,
        RegistryKind::Tls,
        RegistryKind::TlsBasic,
        RegistryKind::Token,
        RegistryKind::ReadOnly,
    ];

    /// The variable holding its `127.0.0.1:PORT`.
    pub fn variable(self) -> &'static str {
        match self {
            RegistryKind::Plain => "FLOW_TEST_REGISTRY_PLAIN",
            RegistryKind::Basic => "FLOW_TEST_REGISTRY_BASIC",
            RegistryKind::Tls => "FLOW_TEST_REGISTRY_TLS",
            RegistryKind::TlsBasic => "FLOW_TEST_REGISTRY_TLSBASIC",
            RegistryKind::Token => "FLOW_TEST_REGISTRY_TOKEN",
            RegistryKind::ReadOnly => "FLOW_TEST_REGISTRY_READONLY",
        }
    }

    /// The variables of its user and password, if it wants credentials.
    fn login_variables(self) -> Option<(&'static str, &'static str)> {
        match self {
            RegistryKind::Basic | RegistryKind::TlsBasic => {
                Some(("FLOW_TEST_BASIC_USER", "FLOW_TEST_BASIC_PASSWORD"))
            }
            RegistryKind::Token => Some(("FLOW_TEST_TOKEN_USER", "FLOW_TEST_TOKEN_PASSWORD")),
            RegistryKind::Plain | RegistryKind::Tls | RegistryKind::ReadOnly => None,
        }
    }
}

/// A registry of the environment.
#[derive(Debug, Clone)]
pub struct Registry {
    /// What it exercises.
    pub kind: RegistryKind,
    /// `127.0.0.1:PORT`, as in an image reference.
    pub host: String,
    /// The account it accepts, if it wants one.
    pub login: Option<Login>,
    /// The CA file of its certificate (TLS registries).
    pub ca: Option<PathBuf>,
    /// Where dockerd and flow find its CA without being told
    /// (`/etc/docker/certs.d/<host>`), if it is installed there.
    pub certs_d: Option<PathBuf>,
}

impl Registry {
    /// Its account; panics for a registry that takes none.
    pub fn login(&self) -> &Login {
        self.login
            .as_ref()
            .unwrap_or_else(|| panic!("the {:?} registry takes no credentials", self.kind))
    }

    /// `host/path`: a repository (or a reference, with a tag) in this registry.
    pub fn at(&self, path: &str) -> String {
        format!("{}/{path}", self.host)
    }
}

/// A user and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Password (printed by no `Debug`).
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, <password>)", self.user)
    }
}

impl Login {
    /// `user:password` in standard base64: a `config.json` `auths` entry's `auth`.
    pub fn auth(&self) -> String {
        crate::util::base64(&format!("{}:{}", self.user, self.password))
    }

    /// As flow's registry client takes it.
    pub fn credentials(&self) -> fleetflow_registry::Credentials {
        fleetflow_registry::Credentials::Basic {
            username: self.user.clone(),
            password: fleetflow_registry::Secret::new(self.password.clone()),
        }
    }
}

/// The token server of the token registry.
#[derive(Debug, Clone)]
pub struct TokenServer {
    /// Its token endpoint (the registry's `realm`).
    pub realm: String,
    /// The `service` it issues tokens for.
    pub service: String,
    /// Its request log (tests check that no password reaches it).
    pub log: PathBuf,
}

impl TestEnv {
    /// The environment, read from the process environment the first time.
    pub fn get() -> &'static TestEnv {
        static ENV: OnceLock<TestEnv> = OnceLock::new();
        ENV.get_or_init(TestEnv::read)
    }

    fn read() -> TestEnv {
        let engines = vec![Engine {
            name: "default".into(),
            host: required("DOCKER_HOST"),
            tls: Some(EngineTls {
                host: required("FLOW_TEST_DOCKER_TLS_HOST"),
                cert_path: required("FLOW_TEST_DOCKER_CERT_PATH").into(),
            }),
        }];
        let registries = RegistryKind::ALL
            .into_iter()
            .map(|kind| Registry {
                kind,
                host: required(kind.variable()),
                login: kind.login_variables().map(|(user, password)| Login {
                    user: required(user),
                    password: required(password),
                }),
                ca: match kind {
                    RegistryKind::Tls => Some(required("FLOW_TEST_TLS_CA").into()),
                    RegistryKind::TlsBasic => {
                        Some(PathBuf::from(required("FLOW_TEST_TLSBASIC_CERT_DIR")).join("ca.crt"))
                    }
                    _ => None,
                },
                certs_d: (kind == RegistryKind::TlsBasic)
                    .then(|| required("FLOW_TEST_TLSBASIC_CERT_DIR").into()),
            })
            .collect();
        TestEnv {
            engines,
            registries,
            base_image: required("FLOW_TEST_BASE_IMAGE"),
            token_server: TokenServer {
                realm: required("FLOW_TEST_TOKEN_REALM"),
                service: required("FLOW_TEST_TOKEN_SERVICE"),
                log: required("FLOW_TEST_TOKEN_SERVER_LOG").into(),
            },
        }
    }

    /// The default engine (`DOCKER_HOST`).
    pub fn engine(&self) -> &Engine {
        &self.engines[0]
    }

    /// The registry of `kind`.
    pub fn registry(&self, kind: RegistryKind) -> &Registry {
        self.registries
            .iter()
            .find(|r| r.kind == kind)
            .unwrap_or_else(|| panic!("the test environment has no {kind:?} registry"))
    }

    /// The registry at `host` (`127.0.0.1:PORT`), if it is one of the environment's.
    pub fn registry_at(&self, host: &str) -> Option<&Registry> {
        self.registries.iter().find(|r| r.host == host)
    }
}

/// The registry of `kind` in [`TestEnv::get`].
pub fn registry(kind: RegistryKind) -> &'static Registry {
    TestEnv::get().registry(kind)
}
