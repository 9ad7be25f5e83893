//! Finding `flow.kdl`: `-f`, then `FLEET_PROJECT_ROOT`, then upward from the working
//! directory (`flow.kdl`, then `.fleetflow/flow.kdl` at each level).

use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// Where a project's configuration lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLocation {
    /// The main file (`flow.kdl`).
    pub main_file: PathBuf,
    /// The folder holding the main file and its layered siblings
    /// (`services/`, `stages/`, `flow.{stage}.kdl`, `flow.local.kdl`, `.env*`).
    pub config_dir: PathBuf,
    /// The project root: paths in the file (Dockerfile, context) are relative to it.
    /// It is the config folder, or its parent when the config folder is `.fleetflow`.
    pub root: PathBuf,
}

impl ProjectLocation {
    fn from_main_file(main_file: PathBuf) -> Self {
        let config_dir = main_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let root = if config_dir.file_name().is_some_and(|n| n == ".fleetflow") {
            config_dir
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        } else {
            config_dir.clone()
        };
        ProjectLocation {
            main_file,
            config_dir,
            root,
        }
    }
}

fn main_file_in(dir: &Path) -> Option<PathBuf> {
    [
        dir.join("flow.kdl"),
        dir.join(".fleetflow").join("flow.kdl"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Find the project. `explicit` is `-f/--file` (a file, or a folder holding `flow.kdl`);
/// `env_root` is `FLEET_PROJECT_ROOT`; `cwd` is where the upward search starts.
pub fn discover(
    explicit: Option<&Path>,
    env_root: Option<&Path>,
    cwd: &Path,
) -> Result<ProjectLocation, ConfigError> {
    if let Some(path) = explicit {
        if path.is_dir() {
            return main_file_in(path)
                .map(ProjectLocation::from_main_file)
                .ok_or_else(|| ConfigError::NotFound {
                    searched: path.to_path_buf(),
                    how: "--file",
                });
        }
        if !path.is_file() {
            return Err(ConfigError::NotFound {
                searched: path.to_path_buf(),
                how: "--file",
            });
        }
        return Ok(ProjectLocation::from_main_file(path.to_path_buf()));
    }
    if let Some(root) = env_root.filter(|p| !p.as_os_str().is_empty()) {
        return main_file_in(root)
            .map(ProjectLocation::from_main_file)
            .ok_or_else(|| ConfigError::NotFound {
                searched: root.to_path_buf(),
                how: crate::ENV_PROJECT_ROOT,
            });
    }
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        if let Some(file) = main_file_in(d) {
            return Ok(ProjectLocation::from_main_file(file));
        }
        dir = d.parent();
    }
    Err(ConfigError::NotFound {
        searched: cwd.to_path_buf(),
        how: "search",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_upward_and_prefers_flow_kdl() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b/.fleetflow")).unwrap();
        std::fs::write(t.path().join("flow.kdl"), "").unwrap();
        std::fs::write(t.path().join("a/b/.fleetflow/flow.kdl"), "").unwrap();
        let found = discover(None, None, &t.path().join("a/b")).unwrap();
        assert_eq!(found.main_file, t.path().join("a/b/.fleetflow/flow.kdl"));
        assert_eq!(found.root, t.path().join("a/b"));
        let found = discover(None, None, &t.path().join("a")).unwrap();
        assert_eq!(found.main_file, t.path().join("flow.kdl"));
    }

    #[test]
    fn env_root_and_explicit_file() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("flow.kdl"), "").unwrap();
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            discover(None, Some(t.path()), other.path()).unwrap().root,
            t.path()
        );
        assert!(matches!(
            discover(None, Some(other.path()), t.path()),
            Err(ConfigError::NotFound { .. })
        ));
        let f = t.path().join("flow.kdl");
        assert_eq!(
            discover(Some(&f), Some(other.path()), other.path())
                .unwrap()
                .main_file,
            f
        );
        assert!(discover(None, None, other.path()).is_err());
    }
}
