//! Test projects: `flow.kdl`, Dockerfiles `FROM` the test environment's base image, files.

use std::path::Path;

use crate::env::TestEnv;
use crate::util::{unique, write};

/// A FleetFlow project to write into a folder.
///
/// ```no_run
/// # use fleetflow_test_support::Project;
/// # let dir = std::path::Path::new("/tmp/x");
/// Project::new("pushy")
///     .service("api", "RUN echo api > /api.txt\n")
///     .stage("ci", &["api"])
///     .unique_inputs()
///     .write(dir);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Project {
    name: Option<String>,
    services: Vec<Service>,
    stages: Vec<(String, Vec<String>, String)>,
    files: Vec<(String, String)>,
    unique: bool,
}

/// A service of a [`Project`] and its Dockerfile.
#[derive(Debug, Clone)]
pub struct Service {
    name: String,
    dockerfile: Option<String>,
    context: Option<String>,
    text: Dockerfile,
}

#[derive(Debug, Clone)]
enum Dockerfile {
    /// Steps after `FROM` the base image.
    Steps(String),
    /// The whole file.
    Whole(String),
}

impl Service {
    /// Service `name` whose Dockerfile is `FROM` the base image then `steps`; by
    /// convention `Dockerfile.<name>`, with the project folder as its context.
    pub fn new(name: &str, steps: &str) -> Service {
        Service {
            name: name.into(),
            dockerfile: None,
            context: None,
            text: Dockerfile::Steps(steps.into()),
        }
    }

    /// Service `name` with exactly `text` as its Dockerfile.
    pub fn with_dockerfile(name: &str, text: &str) -> Service {
        Service {
            text: Dockerfile::Whole(text.into()),
            ..Service::new(name, "")
        }
    }

    /// The Dockerfile at `dockerfile` and the build context `context` (both relative to
    /// the project), written in `flow.kdl`.
    pub fn at(mut self, dockerfile: &str, context: &str) -> Service {
        self.dockerfile = Some(dockerfile.into());
        self.context = Some(context.into());
        self
    }

    /// A folder of its own: `<name>/Dockerfile`, with `<name>` as the context.
    pub fn in_folder(self) -> Service {
        let name = self.name.clone();
        self.at(&format!("{name}/Dockerfile"), &name)
    }

    fn dockerfile_path(&self) -> String {
        self.dockerfile
            .clone()
            .unwrap_or_else(|| format!("Dockerfile.{}", self.name))
    }
}

impl Project {
    /// A project named `name`.
    pub fn new(name: &str) -> Project {
        Project {
            name: Some(name.into()),
            ..Project::default()
        }
    }

    /// Add `service`.
    pub fn with(mut self, service: Service) -> Project {
        self.services.push(service);
        self
    }

    /// Add service `name`: `Dockerfile.<name>`, `FROM` the base image then `steps`.
    pub fn service(self, name: &str, steps: &str) -> Project {
        self.with(Service::new(name, steps))
    }

    /// Add stage `name` with `services`, in that order.
    pub fn stage(self, name: &str, services: &[&str]) -> Project {
        self.stage_with(name, services, "")
    }

    /// [`Project::stage`] with `extra` (`flow.kdl` lines) inside the stage block.
    pub fn stage_with(mut self, name: &str, services: &[&str], extra: &str) -> Project {
        self.stages.push((
            name.into(),
            services.iter().map(|s| s.to_string()).collect(),
            extra.into(),
        ));
        self
    }

    /// Add a file (relative to the project).
    pub fn file(mut self, rel: &str, text: &str) -> Project {
        self.files.push((rel.into(), text.into()));
        self
    }

    /// Give every build context a file with an id unique to this run, so that the
    /// project has input digests of its own and pushes for real instead of reusing what
    /// another test pushed (the images still share their layers).
    pub fn unique_inputs(mut self) -> Project {
        self.unique = true;
        self
    }

    /// The `flow.kdl` text.
    pub fn flow_kdl(&self) -> String {
        let mut kdl = String::new();
        if let Some(name) = &self.name {
            kdl.push_str(&format!("project \"{name}\"\n"));
        }
        for s in &self.services {
            match (&s.dockerfile, &s.context) {
                (Some(dockerfile), Some(context)) => kdl.push_str(&format!(
                    "service \"{}\" {{\n    dockerfile \"{dockerfile}\"\n    context \"{context}\"\n}}\n",
                    s.name
                )),
                _ => kdl.push_str(&format!("service \"{}\"\n", s.name)),
            }
        }
        for (name, services, extra) in &self.stages {
            kdl.push_str(&format!("stage \"{name}\" {{\n"));
            for s in services {
                kdl.push_str(&format!("    service \"{s}\"\n"));
            }
            kdl.push_str(extra);
            kdl.push_str("}\n");
        }
        kdl
    }

    /// Write `flow.kdl`, the Dockerfiles and the files into `dir`.
    pub fn write(&self, dir: &Path) {
        write(dir, "flow.kdl", &self.flow_kdl());
        let run_id = unique("run");
        for s in &self.services {
            let text = match &s.text {
                Dockerfile::Steps(steps) => {
                    format!("FROM {}\n{steps}", TestEnv::get().base_image)
                }
                Dockerfile::Whole(text) => text.clone(),
            };
            write(dir, &s.dockerfile_path(), &text);
            if self.unique {
                write(
                    dir,
                    &format!("{}/run-id", s.context.as_deref().unwrap_or(".")),
                    &run_id,
                );
            }
        }
        for (rel, text) in &self.files {
            write(dir, rel, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_kdl_lists_services_in_their_folders_and_stages_in_order() {
        let p = Project::new("rel")
            .service("api", "")
            .with(Service::new("web", "").in_folder())
            .stage_with("prod", &["web", "api"], "    tags \"latest\"\n");
        assert_eq!(
            p.flow_kdl(),
            "project \"rel\"\nservice \"api\"\nservice \"web\" {\n    dockerfile \"web/Dockerfile\"\n    context \"web\"\n}\nstage \"prod\" {\n    service \"web\"\n    service \"api\"\n    tags \"latest\"\n}\n"
        );
    }

    #[test]
    fn whole_dockerfiles_and_unique_inputs_are_written_where_the_contexts_are() {
        let t = tempfile::tempdir().unwrap();
        Project::new("x")
            .with(Service::with_dockerfile("app", "FROM scratch\n").in_folder())
            .file("app/app.txt", "app")
            .unique_inputs()
            .write(t.path());
        let read = |rel: &str| std::fs::read_to_string(t.path().join(rel)).unwrap();
        assert_eq!(read("app/Dockerfile"), "FROM scratch\n");
        assert_eq!(read("app/app.txt"), "app");
        assert!(read("app/run-id").starts_with("run-"));
        assert!(!t.path().join("run-id").exists(), "only in the context");
    }
}
