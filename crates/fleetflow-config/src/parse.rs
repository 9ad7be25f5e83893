//! Reading the layered files and turning KDL nodes into [`ServiceDef`]s and [`StageDef`]s.

use std::path::{Path, PathBuf};

use kdl::{KdlDocument, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::discovery::ProjectLocation;
use crate::error::ConfigError;
use crate::model::{Project, ServiceDef, Spanned, SpannedMap, StageDef};
use crate::source::Sources;

/// Nodes that only matter to running containers: accepted and ignored by build.
const RUN_ONLY_SERVICE_NODES: &[&str] = &[
    "ports",
    "port",
    "environment",
    "env",
    "volumes",
    "volume",
    "depends_on",
    "healthcheck",
    "restart",
    "command",
    "wait_for",
    "network",
    "networks",
    "variables",
    "readiness",
    "deploy",
    "type",
    "service_type",
    "entrypoint",
    "user",
    "working_dir",
    "cpus",
    "memory",
    "platform",
    "hostname",
    "extra_hosts",
    "cap_add",
    "privileged",
    "tty",
    "stdin_open",
    "logging",
    "ulimits",
    "tmpfs",
    "dns",
    "secrets",
    "configs",
    "profiles",
    "expose",
    "init",
    "shm_size",
    "links",
];
const IGNORED_TOP_NODES: &[&str] = &[
    "provider",
    "providers",
    "server",
    "cloud",
    "include",
    "tenant",
    "backend",
    "dns",
    "playbook",
];
const IGNORED_STAGE_NODES: &[&str] = &["server", "backend", "provider", "deploy", "dns"];

/// The layered files of a project, in the order they apply.
pub(crate) fn layered_files(loc: &ProjectLocation, stage: Option<&str>) -> Vec<PathBuf> {
    let dir = &loc.config_dir;
    let mut files = vec![loc.main_file.clone()];
    for sub in ["services", "stages"] {
        let mut found: Vec<PathBuf> = walk_kdl(&dir.join(sub));
        found.sort();
        files.extend(found);
    }
    if let Some(stage) = stage {
        files.push(dir.join(format!("flow.{stage}.kdl")));
    }
    files.push(dir.join("flow.local.kdl"));
    files.into_iter().filter(|p| p.is_file()).collect()
}

fn walk_kdl(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        // `file_type` does not follow symlinks, so a symlink loop cannot recurse forever.
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk_kdl(&p)),
            Ok(_) if p.extension().is_some_and(|x| x == "kdl") && p.is_file() => out.push(p),
            _ => {}
        }
    }
    out
}

impl Project {
    /// Read and merge every layered file of the project at `location`. `stage` selects
    /// `flow.{stage}.kdl`.
    pub fn load(location: ProjectLocation, stage: Option<&str>) -> Result<Project, ConfigError> {
        let mut project = Project {
            sources: Sources::default(),
            name: None,
            registry: None,
            variables: Vec::new(),
            tags: None,
            services: Vec::new(),
            stages: Vec::new(),
            warnings: Vec::new(),
            location,
        };
        for path in layered_files(&project.location, stage) {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file = project.sources.add(&display_path(&path), text);
            let doc = parse_document(&project.sources, file)?;
            let mut p = Parser {
                sources: &project.sources,
                file,
                warnings: Vec::new(),
            };
            let top = p.top_level(&doc)?;
            project.warnings.append(&mut p.warnings);
            project.absorb(top);
        }
        Ok(project)
    }

    fn absorb(&mut self, top: TopLevel) {
        if top.name.is_some() {
            self.name = top.name;
        }
        if top.registry.is_some() {
            self.registry = top.registry;
        }
        crate::model::merge_map(&mut self.variables, &top.variables);
        if top.tags.is_some() {
            self.tags = top.tags;
        }
        for s in top.services {
            match self.services.iter_mut().find(|x| x.name == s.name) {
                Some(existing) => existing.merge(&s),
                None => self.services.push(s),
            }
        }
        for st in top.stages {
            match self.stages.iter_mut().find(|x| x.name == st.name) {
                Some(existing) => existing.merge(st),
                None => self.stages.push(st),
            }
        }
    }
}

fn display_path(p: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
}

fn parse_document(sources: &Sources, file: usize) -> Result<KdlDocument, ConfigError> {
    let src = sources.get(file);
    KdlDocument::parse(&src.text).map_err(|e| {
        let diag = e.diagnostics.first();
        let span = diag.map_or_else(|| SourceSpan::from((0, 0)), |d| d.span);
        let message = diag
            .and_then(|d| d.message.clone().or_else(|| d.label.clone()))
            .unwrap_or_else(|| "invalid document".into());
        ConfigError::Syntax {
            location: sources.locate(file, span),
            message,
            help: diag.and_then(|d| d.help.clone()),
            src: src.named(),
            span,
        }
    })
}

#[derive(Default)]
struct TopLevel {
    name: Option<Spanned<String>>,
    registry: Option<Spanned<String>>,
    variables: SpannedMap,
    tags: Option<Vec<Spanned<String>>>,
    services: Vec<ServiceDef>,
    stages: Vec<StageDef>,
}

struct Parser<'a> {
    sources: &'a Sources,
    file: usize,
    warnings: Vec<String>,
}

impl Parser<'_> {
    fn spanned<T>(&self, value: T, span: SourceSpan) -> Spanned<T> {
        Spanned {
            value,
            file: self.file,
            span,
        }
    }

    fn invalid(&self, span: SourceSpan, message: String, help: Option<String>) -> ConfigError {
        ConfigError::Invalid {
            location: self.sources.locate(self.file, span),
            message,
            help,
            src: self.sources.get(self.file).named(),
            span,
        }
    }

    fn warn_unknown(&mut self, node: &KdlNode, within: &str) {
        let loc = self.sources.locate(self.file, node.span());
        self.warnings.push(format!(
            "{loc}: unknown node `{}` in {within} is ignored",
            node.name().value()
        ));
    }

    /// The first positional argument as a string. Integers are accepted and written in
    /// decimal (`version 16`); booleans, floats and nulls are type errors.
    fn string_arg(&self, node: &KdlNode) -> Result<Spanned<String>, ConfigError> {
        let name = node.name().value();
        let Some(entry) = node.entries().iter().find(|e| e.name().is_none()) else {
            return Err(self.invalid(
                node.span(),
                format!("`{name}` needs a value"),
                Some(format!("write it as `{name} \"value\"`")),
            ));
        };
        self.string_value(name, entry.value(), entry.span())
    }

    fn string_value(
        &self,
        name: &str,
        value: &KdlValue,
        span: SourceSpan,
    ) -> Result<Spanned<String>, ConfigError> {
        match value {
            KdlValue::String(s) => Ok(self.spanned(s.clone(), span)),
            KdlValue::Integer(i) => Ok(self.spanned(i.to_string(), span)),
            other => Err(self.invalid(
                span,
                format!("`{name}` expects a string, found {}", describe(other)),
                Some(format!("quote the value: `{name} \"...\"`")),
            )),
        }
    }

    /// Every positional argument as a string: `tags "{version}" "latest"`. At least one.
    fn string_list(&self, node: &KdlNode) -> Result<Vec<Spanned<String>>, ConfigError> {
        let name = node.name().value();
        let out = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .map(|e| self.string_value(name, e.value(), e.span()))
            .collect::<Result<Vec<_>, _>>()?;
        if out.is_empty() {
            return Err(self.invalid(
                node.span(),
                format!("`{name}` needs at least one value"),
                Some(format!("write it as `{name} \"{{version}}\" \"latest\"`")),
            ));
        }
        Ok(out)
    }

    fn bool_arg(&self, node: &KdlNode) -> Result<Spanned<bool>, ConfigError> {
        let name = node.name().value();
        match node.entries().iter().find(|e| e.name().is_none()) {
            None => Ok(self.spanned(true, node.span())),
            Some(e) => match e.value() {
                KdlValue::Bool(b) => Ok(self.spanned(*b, e.span())),
                other => Err(self.invalid(
                    e.span(),
                    format!(
                        "`{name}` expects #true or #false, found {}",
                        describe(other)
                    ),
                    Some(format!(
                        "write `{name} #true` (KDL v2 booleans start with #)"
                    )),
                )),
            },
        }
    }

    /// `name { KEY "value" ... }` children as ordered pairs.
    fn map(&self, node: &KdlNode) -> Result<SpannedMap, ConfigError> {
        let mut out: SpannedMap = Vec::new();
        for child in node.iter_children() {
            let key = child.name().value().to_string();
            let value = self.string_arg(child)?;
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => out.push((key, value)),
            }
        }
        // `labels "a=b"` style flat entries are accepted too.
        for e in node.entries().iter().filter(|e| e.name().is_none()) {
            let pair = self.string_value(node.name().value(), e.value(), e.span())?;
            let Some((k, v)) = pair.value.split_once('=') else {
                return Err(self.invalid(
                    e.span(),
                    format!(
                        "`{}` entry `{}` is not KEY=VALUE",
                        node.name().value(),
                        pair.value
                    ),
                    Some(format!(
                        "use a block: `{} {{ KEY \"value\" }}`",
                        node.name().value()
                    )),
                ));
            };
            out.push((k.to_string(), self.spanned(v.to_string(), e.span())));
        }
        Ok(out)
    }

    fn name_arg(&self, node: &KdlNode) -> Result<Spanned<String>, ConfigError> {
        let s = self.string_arg(node)?;
        if s.value.trim().is_empty() {
            return Err(self.invalid(
                s.span,
                format!("`{}` name is empty", node.name().value()),
                None,
            ));
        }
        Ok(s)
    }

    fn top_level(&mut self, doc: &KdlDocument) -> Result<TopLevel, ConfigError> {
        let mut top = TopLevel::default();
        for node in doc.nodes() {
            match node.name().value() {
                "project" => top.name = Some(self.name_arg(node)?),
                "registry" => top.registry = Some(self.string_arg(node)?),
                "variables" => crate::model::merge_map(&mut top.variables, &self.map(node)?),
                "tags" => top.tags = Some(self.string_list(node)?),
                "service" => {
                    let s = self.service(node)?;
                    match top.services.iter_mut().find(|x| x.name == s.name) {
                        Some(existing) => existing.merge(&s),
                        None => top.services.push(s),
                    }
                }
                "stage" => {
                    let st = self.stage(node)?;
                    match top.stages.iter_mut().find(|x| x.name == st.name) {
                        Some(existing) => existing.merge(st),
                        None => top.stages.push(st),
                    }
                }
                n if IGNORED_TOP_NODES.contains(&n) => {}
                _ => self.warn_unknown(node, "the top level"),
            }
        }
        Ok(top)
    }

    fn stage(&mut self, node: &KdlNode) -> Result<StageDef, ConfigError> {
        let name = self.name_arg(node)?;
        let mut st = StageDef {
            name: name.value.clone(),
            declared: Some(self.spanned((), name.span)),
            ..StageDef::default()
        };
        for child in node.iter_children() {
            match child.name().value() {
                "service" => {
                    let s = self.service(child)?;
                    if !st.services.contains(&s.name) {
                        st.services.push(s.name.clone());
                    }
                    // Every name on the node is listed: `service "a" "b"`.
                    for extra in child
                        .entries()
                        .iter()
                        .filter(|e| e.name().is_none())
                        .skip(1)
                    {
                        let n = self.string_value("service", extra.value(), extra.span())?;
                        if !st.services.contains(&n.value) {
                            st.services.push(n.value);
                        }
                    }
                    if child.children().is_some() || has_service_props(child) {
                        match st.overrides.iter_mut().find(|x| x.name == s.name) {
                            Some(existing) => existing.merge(&s),
                            None => st.overrides.push(s),
                        }
                    }
                }
                "services" => {
                    for e in child.entries().iter().filter(|e| e.name().is_none()) {
                        let n = self.string_value("services", e.value(), e.span())?;
                        if !st.services.contains(&n.value) {
                            st.services.push(n.value);
                        }
                    }
                }
                "variables" => crate::model::merge_map(&mut st.variables, &self.map(child)?),
                "registry" => st.registry = Some(self.string_arg(child)?),
                "tags" => st.tags = Some(self.string_list(child)?),
                n if IGNORED_STAGE_NODES.contains(&n) => {}
                _ => self.warn_unknown(child, &format!("stage `{}`", st.name)),
            }
        }
        Ok(st)
    }

    fn service(&mut self, node: &KdlNode) -> Result<ServiceDef, ConfigError> {
        let name = self.name_arg(node)?;
        let mut s = ServiceDef {
            name: name.value.clone(),
            declared: Some(self.spanned((), name.span)),
            ..ServiceDef::default()
        };
        // HEAD-style properties on the node itself: `service "api" image="..."`.
        for e in node.entries() {
            if let Some(key) = e.name() {
                let key = key.value();
                if [
                    "image",
                    "version",
                    "registry",
                    "dockerfile",
                    "context",
                    "target",
                ]
                .contains(&key)
                {
                    let v = self.string_value(key, e.value(), e.span())?;
                    self.set_service_field(&mut s, key, v);
                }
            }
        }
        for child in node.iter_children() {
            let key = child.name().value();
            match key {
                "image" | "version" | "registry" | "dockerfile" | "context" | "target"
                | "image_tag" => {
                    let v = self.string_arg(child)?;
                    self.set_service_field(&mut s, key, v);
                }
                "build_args" => {
                    self.mark_build(&mut s, child.span());
                    crate::model::merge_map(&mut s.build_args, &self.map(child)?);
                }
                "no_cache" => {
                    self.mark_build(&mut s, child.span());
                    s.no_cache = Some(self.bool_arg(child)?);
                }
                "labels" => crate::model::merge_map(&mut s.labels, &self.map(child)?),
                "build" => {
                    self.mark_build(&mut s, child.span());
                    self.build_block(&mut s, child)?;
                }
                n if RUN_ONLY_SERVICE_NODES.contains(&n) => {}
                _ => self.warn_unknown(child, &format!("service `{}`", s.name)),
            }
        }
        Ok(s)
    }

    fn mark_build(&self, s: &mut ServiceDef, span: SourceSpan) {
        if s.build_node.is_none() {
            s.build_node = Some(self.spanned((), span));
        }
    }

    fn set_service_field(&self, s: &mut ServiceDef, key: &str, v: Spanned<String>) {
        let build_field = matches!(key, "dockerfile" | "context" | "target" | "image_tag");
        if build_field {
            self.mark_build(s, v.span);
        }
        let slot = match key {
            "image" => &mut s.image,
            "version" => &mut s.version,
            "registry" => &mut s.registry,
            "dockerfile" => &mut s.dockerfile,
            "context" => &mut s.context,
            "target" => &mut s.target,
            _ => &mut s.image_tag,
        };
        *slot = Some(v);
    }

    fn build_block(&mut self, s: &mut ServiceDef, node: &KdlNode) -> Result<(), ConfigError> {
        for child in node.iter_children() {
            let key = child.name().value();
            match key {
                "dockerfile" | "context" | "target" | "image_tag" => {
                    let v = self.string_arg(child)?;
                    self.set_service_field(s, key, v);
                }
                "args" | "build_args" => {
                    crate::model::merge_map(&mut s.build_args, &self.map(child)?)
                }
                "no_cache" => s.no_cache = Some(self.bool_arg(child)?),
                "labels" => crate::model::merge_map(&mut s.labels, &self.map(child)?),
                "platform" | "cache_from" | "secrets" | "ssh" => {}
                _ => self.warn_unknown(child, &format!("the build block of `{}`", s.name)),
            }
        }
        Ok(())
    }
}

fn has_service_props(node: &KdlNode) -> bool {
    node.entries().iter().any(|e| e.name().is_some())
}

fn describe(v: &KdlValue) -> String {
    match v {
        KdlValue::String(s) => format!("the string \"{s}\""),
        KdlValue::Integer(i) => format!("the number {i}"),
        KdlValue::Float(f) => format!("the number {f}"),
        KdlValue::Bool(b) => format!("the boolean #{b}"),
        KdlValue::Null => "#null".into(),
    }
}
