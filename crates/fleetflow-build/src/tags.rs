//! Tag templates (`tags "{version}" "{version}-{sha}" "{branch}-{sha}" "latest"`): the values
//! they draw on and their expansion into tags (spec/build.md, "Tag templates").
//!
//! - `{sha}`: the first 7 characters of the commit (git `HEAD`, else `GITHUB_SHA`);
//! - `{branch}`: the branch (`GITHUB_HEAD_REF` for pull requests, else `GITHUB_REF_NAME` when
//!   `GITHUB_REF_TYPE=branch`, else git's current branch), lower-cased, every character a
//!   tag cannot hold turned into `-`, at most 128 characters;
//! - `{version}`: `--version`, else `FLOW_VERSION`, else the version tag at `HEAD` (in
//!   Actions, the tag that triggered the run) without its leading `v`.
//!
//! `latest` is given only to a release version (one without a pre-release part such as
//! `-rc.1`). A template whose value is missing is an error naming the template.

use std::path::Path;

use fleetflow_config::TagTemplate;
use fleetflow_oci::validate_tag;

use crate::git::git;

/// The values templates can use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagValues {
    /// `{version}`.
    pub version: Option<String>,
    /// Where `{version}` came from, for the plan: `--version`, `FLOW_VERSION`, `git tag vX`.
    pub version_source: Option<String>,
    /// `{sha}`: 7 characters.
    pub sha: Option<String>,
    /// `{branch}`, already made tag-safe.
    pub branch: Option<String>,
}

/// Why templates did not give tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagTemplateError {
    /// A placeholder has no value here.
    #[error(
        "{location}: tag template `{template}` needs {{{placeholder}}}, which is not set: {hint}"
    )]
    Missing {
        /// The template.
        template: String,
        /// Where it was written.
        location: String,
        /// `version`, `sha` or `branch`.
        placeholder: String,
        /// How to give it a value.
        hint: String,
    },
    /// A placeholder that does not exist.
    #[error(
        "{location}: tag template `{template}` uses {{{placeholder}}}; the placeholders are {{version}}, {{sha}} and {{branch}}"
    )]
    Unknown {
        /// The template.
        template: String,
        /// Where it was written.
        location: String,
        /// The unknown name.
        placeholder: String,
    },
    /// The expanded tag is not a valid tag.
    #[error(
        "{location}: tag template `{template}` gives `{tag}`, which is not a valid tag (letters, digits, `_`, `.`, `-`; not starting with `.` or `-`; at most 128 characters)"
    )]
    Invalid {
        /// The template.
        template: String,
        /// Where it was written.
        location: String,
        /// What it expanded to.
        tag: String,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The release tag of `HEAD`: in GitHub Actions the tag that triggered the run, else the
/// tags pointing at `HEAD` (a release tag before a pre-release one, highest version first,
/// so `v1.5.0` wins over `v1.5.0-rc.1` on the same commit). Only tags that look like
/// versions (`v1.2.3`, `1.2.3`) count.
fn git_version_tag(root: &Path) -> Option<String> {
    let looks_like_version = |t: &str| {
        t.trim_start_matches(['v', 'V'])
            .starts_with(|c: char| c.is_ascii_digit())
    };
    if env("GITHUB_REF_TYPE").as_deref() == Some("tag")
        && let Some(t) = env("GITHUB_REF_NAME").filter(|t| looks_like_version(t))
    {
        return Some(t);
    }
    let tags = git(root, &["tag", "--points-at", "HEAD", "--sort=-v:refname"])?;
    let tags: Vec<&str> = tags
        .lines()
        .map(str::trim)
        .filter(|t| looks_like_version(t))
        .collect();
    tags.iter()
        .find(|t| is_release(&version_from_git_tag(t)))
        .or(tags.first())
        .map(|t| t.to_string())
}

impl TagValues {
    /// Gather the values for a project at `root`: `version` is `--version`.
    pub fn discover(root: &Path, version: Option<&str>) -> TagValues {
        let (version, version_source) = match version.filter(|v| !v.is_empty()) {
            Some(v) => (Some(v.to_string()), Some("--version".to_string())),
            None => match env("FLOW_VERSION") {
                Some(v) => (Some(v), Some("FLOW_VERSION".to_string())),
                None => match git_version_tag(root) {
                    Some(t) => (Some(version_from_git_tag(&t)), Some(format!("git tag {t}"))),
                    None => (None, None),
                },
            },
        };
        let sha = git(root, &["rev-parse", "HEAD"])
            .or_else(|| env("GITHUB_SHA"))
            .map(|s| s.chars().take(7).collect());
        let branch = env("GITHUB_HEAD_REF")
            .or_else(|| {
                (env("GITHUB_REF_TYPE").as_deref() == Some("branch"))
                    .then(|| env("GITHUB_REF_NAME"))
                    .flatten()
            })
            .or_else(|| git(root, &["symbolic-ref", "--short", "-q", "HEAD"]))
            .map(|b| sanitize_branch(&b))
            .filter(|b| !b.is_empty());
        TagValues {
            version,
            version_source,
            sha,
            branch,
        }
    }

    /// Expand every template, in order, dropping duplicates. `latest` is kept only for a
    /// release version.
    pub fn expand(&self, templates: &[TagTemplate]) -> Result<Vec<String>, TagTemplateError> {
        let mut out: Vec<String> = Vec::new();
        for t in templates {
            if t.template == "latest" && !self.version.as_deref().is_some_and(is_release) {
                continue;
            }
            let tag = self.expand_one(t)?;
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
        Ok(out)
    }

    fn expand_one(&self, t: &TagTemplate) -> Result<String, TagTemplateError> {
        let location = t.location.to_string();
        let mut out = String::new();
        let mut rest = t.template.as_str();
        // `{branch}` is shortened last, so that the whole tag fits in 128 characters.
        let mut branch_at = None;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &rest[start + 1..start + end];
            let value = match name {
                "version" => self.version.as_ref(),
                "sha" => self.sha.as_ref(),
                "branch" => self.branch.as_ref(),
                _ => {
                    return Err(TagTemplateError::Unknown {
                        template: t.template.clone(),
                        location,
                        placeholder: name.to_string(),
                    });
                }
            };
            let Some(value) = value else {
                let hint = match name {
                    "version" => {
                        "pass --version 1.2.3, set FLOW_VERSION, or tag the commit (git tag v1.2.3)"
                    }
                    "sha" => "build from a git repository (or set GITHUB_SHA)",
                    _ => {
                        "build on a branch (a detached HEAD has none; in GitHub Actions GITHUB_REF_NAME gives it)"
                    }
                };
                return Err(TagTemplateError::Missing {
                    template: t.template.clone(),
                    location,
                    placeholder: name.to_string(),
                    hint: hint.to_string(),
                });
            };
            if name == "branch" {
                branch_at = Some((out.len(), value.len()));
            }
            out.push_str(value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        if out.len() > 128
            && let Some((at, len)) = branch_at
        {
            let cut = (out.len() - 128).min(len);
            let keep = &out[at..at + len - cut];
            let keep = keep.trim_end_matches(['-', '.']).to_string();
            out = format!("{}{keep}{}", &out[..at], &out[at + len..]);
        }
        validate_tag(&out).map_err(|_| TagTemplateError::Invalid {
            template: t.template.clone(),
            location,
            tag: out.clone(),
        })?;
        Ok(out)
    }
}

/// `v1.2.3` → `1.2.3`; other tags as they are.
pub fn version_from_git_tag(tag: &str) -> String {
    match tag.strip_prefix('v').or_else(|| tag.strip_prefix('V')) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest.to_string(),
        _ => tag.to_string(),
    }
}

/// A release version has no pre-release part: `1.2.3` and `2` are, `1.2.3-rc.1` is not.
pub fn is_release(version: &str) -> bool {
    let core = version.split('+').next().unwrap_or(version);
    !core.is_empty() && !core.contains('-')
}

/// A branch name as a tag component: lower case; `/` and every character a tag cannot
/// hold become `-` (runs collapse); no leading `.`/`-`; at most 128 characters.
pub fn sanitize_branch(branch: &str) -> String {
    let mut out = String::new();
    for c in branch.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_start_matches(['-', '.']);
    let mut out: String = out.chars().take(128).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetflow_config::Location;

    fn templates(list: &[&str]) -> Vec<TagTemplate> {
        list.iter()
            .enumerate()
            .map(|(i, t)| TagTemplate {
                template: t.to_string(),
                location: Location {
                    path: "flow.kdl".into(),
                    line: 3,
                    column: 6 + i,
                },
            })
            .collect()
    }

    fn values(version: Option<&str>) -> TagValues {
        TagValues {
            version: version.map(Into::into),
            version_source: None,
            sha: Some("a1b2c3d".into()),
            branch: Some("main".into()),
        }
    }

    #[test]
    fn the_conventions_of_the_specification() {
        let t = templates(&["{version}", "{version}-{sha}", "{branch}-{sha}", "latest"]);
        assert_eq!(
            values(Some("1.2.3")).expand(&t).unwrap(),
            ["1.2.3", "1.2.3-a1b2c3d", "main-a1b2c3d", "latest"]
        );
        // A pre-release gets no `latest`.
        assert_eq!(
            values(Some("1.3.0-rc.1")).expand(&t).unwrap(),
            ["1.3.0-rc.1", "1.3.0-rc.1-a1b2c3d", "main-a1b2c3d"]
        );
    }

    #[test]
    fn a_missing_value_is_an_error_naming_the_template() {
        let t = templates(&["{branch}-{sha}", "{version}"]);
        let e = values(None).expand(&t).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("flow.kdl:3:7"), "{text}");
        assert!(text.contains("`{version}`"), "{text}");
        assert!(text.contains("--version"), "{text}");
        // Without a version, `latest` is simply not applied.
        let t = templates(&["{branch}-{sha}", "latest"]);
        assert_eq!(values(None).expand(&t).unwrap(), ["main-a1b2c3d"]);
        let t = templates(&["{commit}"]);
        assert!(matches!(
            values(None).expand(&t),
            Err(TagTemplateError::Unknown { .. })
        ));
        let t = templates(&["-{sha}"]);
        assert!(matches!(
            values(None).expand(&t),
            Err(TagTemplateError::Invalid { .. })
        ));
    }

    #[test]
    fn branches_become_tag_safe() {
        assert_eq!(sanitize_branch("Feature/Auth_login"), "feature-auth_login");
        assert_eq!(sanitize_branch("dependabot/npm@x//y"), "dependabot-npm-x-y");
        assert_eq!(sanitize_branch("-.ブランチ"), "");
        assert_eq!(sanitize_branch(&"a".repeat(300)).len(), 128);
        // `{branch}-{sha}` is shortened to fit 128 characters, keeping the sha.
        let mut v = values(None);
        v.branch = Some("b".repeat(128));
        let tag = v.expand(&templates(&["{branch}-{sha}"])).unwrap();
        assert_eq!(tag[0].len(), 128);
        assert!(tag[0].ends_with("-a1b2c3d"));
    }

    #[test]
    fn versions_from_git_tags() {
        assert_eq!(version_from_git_tag("v1.4.2"), "1.4.2");
        assert_eq!(version_from_git_tag("release-7"), "release-7");
        assert!(is_release("1.4.2"));
        assert!(!is_release("1.4.2-beta"));
    }
}
