//! Definitions close to the syntax of `flow.kdl`, with the source span of every value.

use miette::SourceSpan;

use crate::discovery::ProjectLocation;
use crate::source::Sources;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Index into [`Sources`].
    pub file: usize,
    /// Byte range in that file.
    pub span: SourceSpan,
}

/// Ordered `key "value"` pairs (`build_args`, `labels`, `variables`); later keys win.
pub type SpannedMap = Vec<(String, Spanned<String>)>;

pub(crate) fn merge_map(into: &mut SpannedMap, from: &SpannedMap) {
    for (k, v) in from {
        match into.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => into.push((k.clone(), v.clone())),
        }
    }
}

/// One `service "name" { ... }` node, or several merged field by field.
#[derive(Debug, Clone, Default)]
pub struct ServiceDef {
    /// Service name.
    pub name: String,
    /// Where it was first declared.
    pub declared: Option<Spanned<()>>,
    /// `image`.
    pub image: Option<Spanned<String>>,
    /// `version`.
    pub version: Option<Spanned<String>>,
    /// `registry`.
    pub registry: Option<Spanned<String>>,
    /// `dockerfile` / `build { dockerfile }`.
    pub dockerfile: Option<Spanned<String>>,
    /// `context` / `build { context }`.
    pub context: Option<Spanned<String>>,
    /// `target` / `build { target }`.
    pub target: Option<Spanned<String>>,
    /// `build { image_tag }` / `image_tag`.
    pub image_tag: Option<Spanned<String>>,
    /// `build { no_cache #true }`.
    pub no_cache: Option<Spanned<bool>>,
    /// `build_args { K "v" }` / `build { args { K "v" } }`.
    pub build_args: SpannedMap,
    /// `labels { K "v" }`.
    pub labels: SpannedMap,
    /// The first build-related node seen (any of the above build fields or `build {}`).
    pub build_node: Option<Spanned<()>>,
}

impl ServiceDef {
    /// Merge a later definition into this one: each field the later one sets replaces
    /// this one's; maps merge key by key. A later `target` replaces only the target.
    pub fn merge(&mut self, later: &ServiceDef) {
        fn take<T: Clone>(slot: &mut Option<T>, later: &Option<T>) {
            if later.is_some() {
                slot.clone_from(later);
            }
        }
        if self.declared.is_none() {
            self.declared.clone_from(&later.declared);
        }
        take(&mut self.image, &later.image);
        take(&mut self.version, &later.version);
        take(&mut self.registry, &later.registry);
        take(&mut self.dockerfile, &later.dockerfile);
        take(&mut self.context, &later.context);
        take(&mut self.target, &later.target);
        take(&mut self.image_tag, &later.image_tag);
        take(&mut self.no_cache, &later.no_cache);
        merge_map(&mut self.build_args, &later.build_args);
        merge_map(&mut self.labels, &later.labels);
        if self.build_node.is_none() {
            self.build_node.clone_from(&later.build_node);
        }
    }
}

/// One `stage "name" { ... }` node, or several merged.
#[derive(Debug, Clone, Default)]
pub struct StageDef {
    /// Stage name.
    pub name: String,
    /// Where it was first declared.
    pub declared: Option<Spanned<()>>,
    /// Services listed in the stage, in order.
    pub services: Vec<String>,
    /// Per-stage service overrides (`stage "x" { service "api" { target "prod" } }`).
    pub overrides: Vec<ServiceDef>,
    /// Stage `variables`.
    pub variables: SpannedMap,
    /// Stage `registry`.
    pub registry: Option<Spanned<String>>,
    /// Stage `tags` templates (replace the top-level list).
    pub tags: Option<Vec<Spanned<String>>>,
}

impl StageDef {
    pub(crate) fn merge(&mut self, later: StageDef) {
        if self.declared.is_none() {
            self.declared = later.declared;
        }
        for s in later.services {
            if !self.services.contains(&s) {
                self.services.push(s);
            }
        }
        for o in later.overrides {
            match self.overrides.iter_mut().find(|x| x.name == o.name) {
                Some(existing) => existing.merge(&o),
                None => self.overrides.push(o),
            }
        }
        merge_map(&mut self.variables, &later.variables);
        if later.registry.is_some() {
            self.registry = later.registry;
        }
        if later.tags.is_some() {
            self.tags = later.tags;
        }
    }
}

/// A loaded project: every layered file parsed and merged, before a stage is chosen.
#[derive(Debug, Clone)]
pub struct Project {
    /// Where the project lives.
    pub location: ProjectLocation,
    /// Every file read, in layering order.
    pub sources: Sources,
    /// `project "name"`.
    pub name: Option<Spanned<String>>,
    /// Top-level `registry`.
    pub registry: Option<Spanned<String>>,
    /// Top-level `variables`.
    pub variables: SpannedMap,
    /// Top-level `tags` templates.
    pub tags: Option<Vec<Spanned<String>>>,
    /// Services in order of first appearance.
    pub services: Vec<ServiceDef>,
    /// Stages in order of first appearance.
    pub stages: Vec<StageDef>,
    /// Non-fatal findings (unknown nodes that were ignored), already located.
    pub warnings: Vec<String>,
}

impl Project {
    /// The project's name: `project "name"`, else the root folder's name.
    pub fn project_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.value.clone();
        }
        std::fs::canonicalize(&self.location.root)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "project".into())
    }
}
