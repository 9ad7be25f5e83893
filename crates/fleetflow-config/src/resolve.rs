//! Choosing a stage: stage overrides merged, variables substituted, Dockerfiles found.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::model::{Project, ServiceDef, Spanned, SpannedMap};
use crate::source::Location;
use crate::vars::{Variables, read_env_file};

/// A stage ready for planning: every value final, every path checked.
#[derive(Debug, Clone)]
pub struct ResolvedStage {
    /// Stage name.
    pub name: String,
    /// Project name.
    pub project: String,
    /// Project root (absolute).
    pub root: PathBuf,
    /// The main configuration file.
    pub main_file: PathBuf,
    /// Stage `registry`, else top-level `registry`.
    pub registry: Option<String>,
    /// The stage's services, in the stage's order.
    pub services: Vec<ResolvedService>,
    /// Tag templates: the stage's `tags`, else the top-level `tags` (`{{ VAR }}` expanded,
    /// `{version}`, `{sha}`, `{branch}` left for the build plan).
    pub tag_templates: Vec<TagTemplate>,
}

/// One `tags` value and where it was written (for errors that name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTemplate {
    /// The template, e.g. `{version}-{sha}`.
    pub template: String,
    /// Where it was written.
    pub location: Location,
}

impl ResolvedStage {
    /// Keep only `names` (in the order given); an unknown name is an error.
    pub fn select(&mut self, names: &[String]) -> Result<(), ConfigError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut picked = Vec::new();
        for n in names {
            let Some(s) = self.services.iter().find(|s| &s.name == n) else {
                return Err(ConfigError::UnknownService {
                    name: n.clone(),
                    stage: self.name.clone(),
                    file: self.main_file.clone(),
                    available: self.services.iter().map(|s| s.name.clone()).collect(),
                });
            };
            if !picked.iter().any(|p: &ResolvedService| &p.name == n) {
                picked.push(s.clone());
            }
        }
        self.services = picked;
        Ok(())
    }
}

/// One service of a stage.
#[derive(Debug, Clone)]
pub struct ResolvedService {
    /// Service name.
    pub name: String,
    /// `image`, variables expanded.
    pub image: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// Service `registry`.
    pub registry: Option<String>,
    /// How to build it, or why it is not built.
    pub build: Result<BuildSpec, SkipReason>,
    /// Where the service was declared.
    pub declared_at: Option<Location>,
}

/// Why a service is not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// No build settings and no conventional Dockerfile (a pulled image such as postgres).
    NoBuildSettings,
}

/// Everything the builder needs for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// Absolute path of the Dockerfile.
    pub dockerfile: PathBuf,
    /// Absolute path of the build context.
    pub context: PathBuf,
    /// Multi-stage target.
    pub target: Option<String>,
    /// Build arguments, variables expanded.
    pub args: Vec<(String, String)>,
    /// `no_cache` from the file.
    pub no_cache: bool,
    /// `image_tag` from the file.
    pub image_tag: Option<String>,
    /// Image labels.
    pub labels: Vec<(String, String)>,
}

impl Project {
    /// The stage used when none is given: the one named `default`, else the only stage.
    pub fn implicit_stage(&self) -> Option<&str> {
        self.stages
            .iter()
            .find(|s| s.name == "default")
            .or(if self.stages.len() == 1 {
                self.stages.first()
            } else {
                None
            })
            .map(|s| s.name.as_str())
    }

    fn stage_locations(&self) -> Vec<(String, Location)> {
        self.stages
            .iter()
            .filter_map(|s| {
                let d = s.declared.as_ref()?;
                Some((s.name.clone(), self.sources.locate(d.file, d.span)))
            })
            .collect()
    }

    /// Resolve `stage` (None: the stage named `default`, else the only stage, else all
    /// services when no stage is defined). `process_env` is the environment, lowest
    /// precedence.
    pub fn resolve_stage(
        &self,
        stage: Option<&str>,
        process_env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ResolvedStage, ConfigError> {
        let main_file = self.location.main_file.clone();
        let stage_def = match stage {
            Some(name) => Some(self.stages.iter().find(|s| s.name == name).ok_or_else(|| {
                ConfigError::UnknownStage {
                    name: name.to_string(),
                    file: main_file.clone(),
                    available: self.stage_locations(),
                }
            })?),
            None if self.stages.is_empty() => None,
            None => Some(
                self.implicit_stage()
                    .and_then(|name| self.stages.iter().find(|s| s.name == name))
                    .ok_or_else(|| ConfigError::NoStage {
                        file: main_file.clone(),
                        available: self.stage_locations(),
                    })?,
            ),
        };
        let stage_name = stage_def.map_or_else(|| "default".to_string(), |s| s.name.clone());
        let root =
            std::fs::canonicalize(&self.location.root).map_err(|source| ConfigError::Read {
                path: self.location.root.clone(),
                source,
            })?;
        let project = self.project_name();

        let dir = &self.location.config_dir;
        let dotenv = read_env_file(&dir.join(".env")).map_err(|source| ConfigError::Read {
            path: dir.join(".env"),
            source,
        })?;
        let stage_env_path = dir.join(format!(".env.{stage_name}"));
        let stage_env = read_env_file(&stage_env_path).map_err(|source| ConfigError::Read {
            path: stage_env_path,
            source,
        })?;
        let builtins = vec![
            ("FLEET_STAGE".to_string(), stage_name.clone()),
            ("PROJECT_NAME".to_string(), project.clone()),
            ("PROJECT_ROOT".to_string(), root.display().to_string()),
        ];
        let plain = |m: &SpannedMap| -> Vec<(String, String)> {
            m.iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect()
        };
        let vars = Variables::from_layers([
            process_env.into_iter().collect::<Vec<_>>(),
            builtins,
            dotenv,
            stage_env,
            plain(&self.variables),
            stage_def.map(|s| plain(&s.variables)).unwrap_or_default(),
        ]);

        let names: Vec<String> = match stage_def {
            Some(s) if !s.services.is_empty() => s.services.clone(),
            _ => self.services.iter().map(|s| s.name.clone()).collect(),
        };
        let mut services = Vec::new();
        for name in names {
            let mut def = self
                .services
                .iter()
                .find(|s| s.name == name)
                .cloned()
                .unwrap_or_else(|| ServiceDef {
                    name: name.clone(),
                    ..ServiceDef::default()
                });
            if let Some(o) = stage_def.and_then(|s| s.overrides.iter().find(|o| o.name == name)) {
                def.merge(o);
            }
            services.push(self.resolve_service(&def, &vars, &root)?);
        }
        let registry = stage_def
            .and_then(|s| s.registry.as_ref())
            .or(self.registry.as_ref())
            .map(|r| self.expand(&vars, r))
            .transpose()?;
        let tag_templates = stage_def
            .and_then(|s| s.tags.as_ref())
            .or(self.tags.as_ref())
            .map(|list| {
                list.iter()
                    .map(|t| {
                        Ok(TagTemplate {
                            template: self.expand(&vars, t)?,
                            location: self.sources.locate(t.file, t.span),
                        })
                    })
                    .collect::<Result<Vec<_>, ConfigError>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(ResolvedStage {
            name: stage_name,
            project,
            root,
            main_file,
            registry,
            services,
            tag_templates,
        })
    }

    fn expand(&self, vars: &Variables, s: &Spanned<String>) -> Result<String, ConfigError> {
        vars.expand(&s.value)
            .map_err(|name| self.undefined(name, s))
    }

    fn undefined(&self, name: String, s: &Spanned<String>) -> ConfigError {
        ConfigError::UndefinedVariable {
            location: self.sources.locate(s.file, s.span),
            name,
            src: self.sources.get(s.file).named(),
            span: s.span,
        }
    }

    fn opt(
        &self,
        vars: &Variables,
        s: &Option<Spanned<String>>,
    ) -> Result<Option<String>, ConfigError> {
        s.as_ref().map(|s| self.expand(vars, s)).transpose()
    }

    fn resolve_service(
        &self,
        def: &ServiceDef,
        vars: &Variables,
        root: &Path,
    ) -> Result<ResolvedService, ConfigError> {
        let declared_at = def
            .declared
            .as_ref()
            .map(|d| self.sources.locate(d.file, d.span));
        let image = self.opt(vars, &def.image)?;
        let version = self.opt(vars, &def.version)?;
        let registry = self.opt(vars, &def.registry)?;

        let context = match &def.context {
            Some(c) => {
                let path = root.join(self.expand(vars, c)?);
                if !path.is_dir() {
                    return Err(self.invalid(
                        c,
                        format!(
                            "build context is not a folder: {} (service `{}`)",
                            path.display(),
                            def.name
                        ),
                        "contexts are relative to the project root",
                    ));
                }
                path
            }
            None => root.to_path_buf(),
        };
        let dockerfile = match &def.dockerfile {
            Some(d) => {
                let path = root.join(self.expand(vars, d)?);
                if !path.is_file() {
                    return Err(ConfigError::MissingDockerfile {
                        location: self.sources.locate(d.file, d.span),
                        service: def.name.clone(),
                        resolved: path,
                        root: root.to_path_buf(),
                        src: self.sources.get(d.file).named(),
                        span: d.span,
                    });
                }
                Some(path)
            }
            None => conventional_dockerfile(root, &def.name).or_else(|| {
                def.context
                    .as_ref()
                    .map(|_| context.join("Dockerfile"))
                    .filter(|p| p.is_file())
            }),
        };
        let Some(dockerfile) = dockerfile else {
            if let Some(node) = &def.build_node {
                let s = Spanned {
                    value: String::new(),
                    file: node.file,
                    span: node.span,
                };
                return Err(self.invalid(
                    &s,
                    format!("service `{}` has build settings but no Dockerfile", def.name),
                    "add `dockerfile \"path/to/Dockerfile\"`, or create services/<name>/Dockerfile, <name>/Dockerfile or Dockerfile.<name>",
                ));
            }
            return Ok(ResolvedService {
                name: def.name.clone(),
                image,
                version,
                registry,
                build: Err(SkipReason::NoBuildSettings),
                declared_at,
            });
        };

        let mut args = Vec::new();
        for (k, v) in &def.build_args {
            let value = vars
                .expand_build_arg(&v.value)
                .map_err(|name| self.undefined(name, v))?;
            args.push((k.clone(), value));
        }
        let mut labels = Vec::new();
        for (k, v) in &def.labels {
            labels.push((k.clone(), self.expand(vars, v)?));
        }
        Ok(ResolvedService {
            name: def.name.clone(),
            image,
            version,
            registry,
            build: Ok(BuildSpec {
                dockerfile,
                context,
                target: self.opt(vars, &def.target)?,
                args,
                no_cache: def.no_cache.as_ref().is_some_and(|b| b.value),
                image_tag: self.opt(vars, &def.image_tag)?,
                labels,
            }),
            declared_at,
        })
    }

    fn invalid(&self, s: &Spanned<String>, message: String, help: &str) -> ConfigError {
        ConfigError::Invalid {
            location: self.sources.locate(s.file, s.span),
            message,
            help: Some(help.to_string()),
            src: self.sources.get(s.file).named(),
            span: s.span,
        }
    }
}

/// `services/{name}/Dockerfile`, `{name}/Dockerfile`, `Dockerfile.{name}`, first found.
fn conventional_dockerfile(root: &Path, name: &str) -> Option<PathBuf> {
    [
        root.join("services").join(name).join("Dockerfile"),
        root.join(name).join("Dockerfile"),
        root.join(format!("Dockerfile.{name}")),
    ]
    .into_iter()
    .find(|p| p.is_file())
}
