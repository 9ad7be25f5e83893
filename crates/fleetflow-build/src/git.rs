//! OCI labels (`org.opencontainers.image.*`) from the project's git repository.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
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
    if let Some(rest) = url.strip_prefix("git@") {
        if let Some((host, path)) = rest.split_once(':') {
            return format!("https://{host}/{}", path.trim_end_matches(".git"));
        }
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

/// The `created` time: `SOURCE_DATE_EPOCH` if set (reproducible builds), else now.
fn created() -> String {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// OCI labels for images built from `root`. `version` is the first `--tag` when given,
/// else `git describe`. Outside a git repository only `created` (and `version` when
/// given) are set.
pub fn oci_labels(root: &Path, version: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("org.opencontainers.image.created".into(), created());
    let version = version
        .map(str::to_string)
        .or_else(|| git(root, &["describe", "--tags", "--always", "--dirty"]));
    if let Some(rev) = git(root, &["rev-parse", "HEAD"]) {
        labels.insert("org.opencontainers.image.revision".into(), rev);
        if let Some(url) = git(root, &["remote", "get-url", "origin"]) {
            labels.insert(
                "org.opencontainers.image.source".into(),
                public_source_url(&url),
            );
        }
    }
    if let Some(v) = version {
        labels.insert("org.opencontainers.image.version".into(), v);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

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
