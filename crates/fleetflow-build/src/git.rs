//! OCI labels (`org.opencontainers.image.*`) from the project's git repository.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `git -C root ARGS...`'s trimmed output; `None` when git fails or prints nothing.
pub(crate) fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// A remote URL without credentials, as a browsable https URL where possible.
pub fn public_source_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("git@")
        && let Some((host, path)) = rest.split_once(':')
    {
        return format!("https://{host}/{}", path.trim_end_matches(".git"));
    }
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let scheme = if scheme == "ssh" { "https" } else { scheme };
            format!("{scheme}://{host}/{}", path.trim_end_matches(".git"))
        }
        None => url.to_string(),
    }
}

fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// OCI labels for images built from `root`, filled from git; outside a git repository
/// there are none (there is no revision or source to record, and a label alone would
/// cost the classic builder a build step for nothing).
///
/// `created` is `SOURCE_DATE_EPOCH` when set, else the commit time of HEAD: the same
/// commit gives the same labels, so an unchanged service stays fully cached and its push
/// finds every blob already there. `version` is the first `--tag` when given, else
/// `git describe --tags --always --dirty`.
pub fn oci_labels(root: &Path, version: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let Some(revision) = git(root, &["rev-parse", "HEAD"]) else {
        return labels;
    };
    let created = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .or_else(|| git(root, &["log", "-1", "--format=%ct"]))
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(rfc3339);
    if let Some(created) = created {
        labels.insert("org.opencontainers.image.created".into(), created);
    }
    labels.insert("org.opencontainers.image.revision".into(), revision);
    if let Some(url) = git(root, &["remote", "get-url", "origin"]) {
        labels.insert(
            "org.opencontainers.image.source".into(),
            public_source_url(&url),
        );
    }
    let version = version
        .map(str::to_string)
        .or_else(|| git(root, &["describe", "--tags", "--always", "--dirty"]));
    if let Some(v) = version {
        labels.insert("org.opencontainers.image.version".into(), v);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_labels_outside_git() {
        let t = tempfile::tempdir().unwrap();
        assert!(oci_labels(t.path(), Some("v1")).is_empty());
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn source_urls_lose_credentials() {
        assert_eq!(
            public_source_url("https://user:ghp_secret@github.com/org/repo.git"),
            "https://github.com/org/repo"
        );
        assert_eq!(
            public_source_url("git@github.com:org/repo.git"),
            "https://github.com/org/repo"
        );
        assert_eq!(
            public_source_url("ssh://git@host/org/r"),
            "https://host/org/r"
        );
    }
}
