//! The build plan: which services are built, under which image names and tags.
//!
//! Naming rules (spec/build.md): the repository is the service's `image` without its tag,
//! else `{project}-{service}`; a registry (`--registry` > service > stage > top level) is
//! put in front of a name that has no registry host; tags are `--tag`... > the stage's
//! (or top-level) `tags` templates > the tag in `image` > `image_tag` > `version` >
//! `latest`. Every service gets its own repository.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fleetflow_config::{BuildSpec, ResolvedService, ResolvedStage, SkipReason};
use fleetflow_oci::{Reference, validate_tag};

use crate::error::BuildError;
use crate::tags::TagValues;

/// Options from the command line that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--tag` values, in order.
    pub tags: Vec<String>,
    /// `--registry`.
    pub registry: Option<String>,
    /// `--no-cache` (or per service `no_cache #true`).
    pub no_cache: bool,
    /// `--pull`: pull base images.
    pub pull: bool,
    /// Labels every image gets (the OCI labels from git).
    pub labels: BTreeMap<String, String>,
    /// Values for the `tags` templates.
    pub tag_values: TagValues,
}

/// The whole plan for a stage.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// Stage name.
    pub stage: String,
    /// Project name.
    pub project: String,
    /// Project root.
    pub root: PathBuf,
    /// Services to build, in stage order.
    pub builds: Vec<ServiceBuild>,
    /// Services not built, with the reason.
    pub skipped: Vec<(String, SkipReason)>,
}

/// One service to build.
#[derive(Debug, Clone)]
pub struct ServiceBuild {
    /// Service name.
    pub service: String,
    /// Repository (no tag).
    pub repository: Reference,
    /// Tags to give the image, first one used for the build.
    pub tags: Vec<String>,
    /// Dockerfile, context, target, args.
    pub spec: BuildSpec,
    /// Labels: the file's, over the OCI labels.
    pub labels: BTreeMap<String, String>,
    /// Build without cache.
    pub no_cache: bool,
    /// Pull base images.
    pub pull: bool,
    /// The base images (`FROM`, build args substituted; not `scratch` or earlier stages).
    pub base_images: Vec<String>,
    /// Registries of the base images, whose credentials the build may need.
    pub base_registries: Vec<String>,
}

impl ServiceBuild {
    /// Every `repository:tag` this build produces.
    pub fn references(&self) -> Vec<Reference> {
        self.tags
            .iter()
            .map(|t| self.repository.with_tag(t))
            .collect()
    }
}

/// Make a name valid as a repository path component: lower case, runs of other
/// characters become `-`.
fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(|c| matches!(c, '.' | '_' | '-'))
        .to_string()
}

impl BuildPlan {
    /// Plan `stage`. Validates every tag and name before anything runs.
    pub fn new(stage: &ResolvedStage, opts: &PlanOptions) -> Result<BuildPlan, BuildError> {
        for t in &opts.tags {
            validate_tag(t).map_err(BuildError::InvalidTag)?;
        }
        // Templates are expanded only when no --tag replaces them.
        let template_tags = if opts.tags.is_empty() && !stage.tag_templates.is_empty() {
            let tags = opts.tag_values.expand(&stage.tag_templates)?;
            if tags.is_empty() {
                return Err(BuildError::NoTemplateTag {
                    location: stage.tag_templates[0].location.to_string(),
                });
            }
            tags
        } else {
            Vec::new()
        };
        let mut builds = Vec::new();
        let mut skipped = Vec::new();
        for svc in &stage.services {
            match &svc.build {
                Ok(spec) => {
                    // A broken .dockerignore is a configuration error, found before building.
                    crate::context::load_ignore(&spec.context)?;
                    builds.push(plan_service(stage, svc, spec, opts, &template_tags)?)
                }
                Err(reason) => skipped.push((svc.name.clone(), reason.clone())),
            }
        }
        Ok(BuildPlan {
            stage: stage.name.clone(),
            project: stage.project.clone(),
            root: stage.root.clone(),
            builds,
            skipped,
        })
    }
}

fn plan_service(
    stage: &ResolvedStage,
    svc: &ResolvedService,
    spec: &BuildSpec,
    opts: &PlanOptions,
    template_tags: &[String],
) -> Result<ServiceBuild, BuildError> {
    let err = |source| BuildError::Reference {
        service: svc.name.clone(),
        source,
    };
    let name = match &svc.image {
        Some(image) => image.clone(),
        // A project name with nothing usable in a repository name (e.g. all non-ASCII)
        // leaves just the service name.
        None => match sanitize(&stage.project) {
            p if p.is_empty() => sanitize(&svc.name),
            p => format!("{p}-{}", sanitize(&svc.name)),
        },
    };
    let mut reference = Reference::parse(&name).map_err(err)?;
    let registry = opts
        .registry
        .as_ref()
        .or(svc.registry.as_ref())
        .or(stage.registry.as_ref());
    if let (None, Some(reg)) = (&reference.domain, registry) {
        let prefixed = format!("{}/{}", reg.trim_end_matches('/'), reference.path);
        let tag = reference.tag.take();
        reference = Reference::parse(&prefixed).map_err(err)?;
        reference.tag = tag;
    }
    let tags = if !opts.tags.is_empty() {
        opts.tags.clone()
    } else if !template_tags.is_empty() {
        template_tags.to_vec()
    } else {
        let t = reference
            .tag
            .clone()
            .or_else(|| spec.image_tag.clone())
            .or_else(|| svc.version.clone())
            .unwrap_or_else(|| "latest".into());
        validate_tag(&t).map_err(err)?;
        vec![t]
    };
    reference.tag = None;
    reference.digest = None;
    let mut labels = opts.labels.clone();
    labels.extend(spec.labels.iter().cloned());
    let base_images = base_images(spec);
    Ok(ServiceBuild {
        service: svc.name.clone(),
        repository: reference,
        tags,
        spec: spec.clone(),
        labels,
        no_cache: opts.no_cache || spec.no_cache,
        pull: opts.pull,
        base_registries: registries_of(&base_images),
        base_images,
    })
}

/// The Dockerfile's base images. A Dockerfile that cannot be read here yields none; the
/// builder reports the error when it reads it.
fn base_images(spec: &BuildSpec) -> Vec<String> {
    std::fs::read_to_string(&spec.dockerfile)
        .map(|text| crate::dockerfile::base_images(&text, &spec.args))
        .unwrap_or_default()
}

/// The registries `images` come from, each once.
fn registries_of(images: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for image in images {
        if let Ok(r) = Reference::parse(image) {
            let registry = r.registry().to_string();
            if !out.contains(&registry) {
                out.push(registry);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(services: Vec<ResolvedService>, registry: Option<&str>) -> ResolvedStage {
        ResolvedStage {
            name: "prod".into(),
            project: "My Shop".into(),
            root: "/p".into(),
            main_file: "/p/flow.kdl".into(),
            registry: registry.map(Into::into),
            services,
            tag_templates: vec![],
        }
    }

    fn svc(name: &str, image: Option<&str>, version: Option<&str>) -> ResolvedService {
        ResolvedService {
            name: name.into(),
            image: image.map(Into::into),
            version: version.map(Into::into),
            registry: None,
            build: Ok(BuildSpec {
                dockerfile: "/p/Dockerfile".into(),
                context: "/p".into(),
                target: None,
                args: vec![],
                no_cache: false,
                image_tag: None,
                labels: vec![],
            }),
            declared_at: None,
        }
    }

    fn refs(plan: &BuildPlan) -> Vec<String> {
        plan.builds
            .iter()
            .flat_map(|b| b.references())
            .map(|r| r.to_string())
            .collect()
    }

    #[test]
    fn names_and_tag_precedence() {
        let st = stage(
            vec![
                svc("api", Some("ghcr.io/org/myapp:main"), Some("1.0")),
                svc("worker", None, Some("2.0")),
                svc("web", Some("web"), None),
            ],
            Some("ghcr.io/org"),
        );
        let plan = BuildPlan::new(&st, &PlanOptions::default()).unwrap();
        assert_eq!(
            refs(&plan),
            vec![
                "ghcr.io/org/myapp:main",
                "ghcr.io/org/my-shop-worker:2.0",
                "ghcr.io/org/web:latest"
            ]
        );
        let opts = PlanOptions {
            tags: vec!["v1.2.0".into(), "latest".into()],
            ..Default::default()
        };
        let plan = BuildPlan::new(&st, &opts).unwrap();
        assert_eq!(
            refs(&plan)[..2],
            ["ghcr.io/org/myapp:v1.2.0", "ghcr.io/org/myapp:latest"]
        );
        let opts = PlanOptions {
            registry: Some("localhost:5000".into()),
            ..Default::default()
        };
        let plan = BuildPlan::new(&st, &opts).unwrap();
        assert_eq!(refs(&plan)[1], "localhost:5000/my-shop-worker:2.0");
    }

    #[test]
    fn non_ascii_project_names_leave_the_service_name() {
        let mut st = stage(vec![svc("api", None, None)], None);
        st.project = "ショップ".into();
        let plan = BuildPlan::new(&st, &PlanOptions::default()).unwrap();
        assert_eq!(refs(&plan), vec!["api:latest"]);
    }

    #[test]
    fn every_service_has_its_own_repository_and_tags_are_checked() {
        let st = stage(
            vec![svc("api", None, None), svc("worker", None, None)],
            Some("r.io/o"),
        );
        let plan = BuildPlan::new(&st, &PlanOptions::default()).unwrap();
        assert_ne!(plan.builds[0].repository, plan.builds[1].repository);
        let bad = PlanOptions {
            tags: vec!["-bad".into()],
            ..Default::default()
        };
        assert!(matches!(
            BuildPlan::new(&st, &bad),
            Err(BuildError::InvalidTag(_))
        ));
    }
}
