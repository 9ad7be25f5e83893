//! `.dockerignore` with Docker's semantics (moby/patternmatcher): one pattern a line,
//! `#` comments, `!` exceptions, the last matching rule wins, `*` and `?` stay within a
//! path component, `**` spans any number of components, and a pattern that matches a
//! folder excludes everything below it. Patterns are cleaned like Go's `filepath.Clean`
//! and a leading `/` is dropped.
//!
//! Written on `globset` rather than the `ignore` crate because gitignore semantics differ
//! (unanchored patterns, no last-rule-wins across `!` on parent folders).

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

/// One line of a `.dockerignore`.
#[derive(Debug, Clone)]
struct Rule {
    matcher: GlobMatcher,
    exception: bool,
}

/// The compiled rules of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

/// A pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: invalid pattern `{pattern}`: {reason}")]
pub struct PatternError {
    /// 1-based line.
    pub line: usize,
    /// The pattern.
    pub pattern: String,
    /// Why.
    pub reason: String,
}

fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl DockerIgnore {
    /// Parse the contents of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<DockerIgnore, PatternError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| PatternError {
                    line: i + 1,
                    pattern: pattern.clone(),
                    reason: e.kind().to_string(),
                })?;
            rules.push(Rule {
                matcher: glob.compile_matcher(),
                exception,
            });
        }
        Ok(DockerIgnore { rules })
    }

    /// Read `context/.dockerignore`; a missing file ignores nothing.
    pub fn load(context: &Path) -> std::io::Result<Result<DockerIgnore, PatternError>> {
        match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => Ok(DockerIgnore::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ok(DockerIgnore::default())),
            Err(e) => Err(e),
        }
    }

    /// Are there `!` rules (so an excluded folder may still hold included files)?
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }

    /// Is `rel` (a `/`-separated path relative to the context) excluded?
    pub fn is_excluded(&self, rel: &str) -> bool {
        let mut excluded = false;
        for rule in &self.rules {
            if rule.exception != excluded {
                // This rule cannot change the verdict.
                continue;
            }
            if matches_self_or_parent(&rule.matcher, rel) {
                excluded = !rule.exception;
            }
        }
        excluded
    }
}

fn matches_self_or_parent(m: &GlobMatcher, rel: &str) -> bool {
    m.is_match(rel)
        || rel
            .char_indices()
            .any(|(i, c)| c == '/' && m.is_match(&rel[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_semantics() {
        let d = DockerIgnore::parse(
            "# comment\n*.md\n!README.md\nnode_modules\n**/*.log\n/tmp/\nsecret?.txt\ndocs/**\n!docs/keep/**\n",
        )
        .unwrap();
        assert!(d.is_excluded("CHANGES.md"));
        assert!(!d.is_excluded("README.md"));
        assert!(!d.is_excluded("sub/CHANGES.md"), "* does not cross /");
        assert!(
            d.is_excluded("node_modules/x/y.js"),
            "a folder match excludes its contents"
        );
        assert!(
            d.is_excluded("a.log") && d.is_excluded("a/b/c.log"),
            "** spans zero or more"
        );
        assert!(d.is_excluded("tmp/x"));
        assert!(d.is_excluded("secret1.txt") && !d.is_excluded("secret12.txt"));
        assert!(d.is_excluded("docs/a.txt"));
        assert!(!d.is_excluded("docs/keep/a.txt"), "later ! wins");
        assert!(!d.is_excluded("# comment"));
        assert!(d.has_exceptions());
    }

    #[test]
    fn last_rule_wins_and_bad_patterns() {
        let d = DockerIgnore::parse("!a.txt\n*.txt\n").unwrap();
        assert!(d.is_excluded("a.txt"));
        let err = DockerIgnore::parse("ok\n[z-a\n").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
