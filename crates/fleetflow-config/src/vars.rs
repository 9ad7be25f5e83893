//! Variables and `{{ NAME }}` / `{NAME}` substitution.
//!
//! Precedence, highest first: stage `variables`, top-level `variables`, `.env.{stage}`,
//! `.env`, the process environment. We substitute inside parsed string values (not in
//! the raw text, as FleetFlow's Tera pass did) so that an undefined variable is reported
//! at the exact value that uses it; see design/architecture.md ("Variables without Tera").

use std::collections::HashMap;
use std::path::Path;

/// Resolved variables for one stage.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: HashMap<String, String>,
}

impl Variables {
    /// Build from layers given lowest precedence first.
    pub fn from_layers<I, K, V>(layers: impl IntoIterator<Item = I>) -> Variables
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut values = HashMap::new();
        for layer in layers {
            for (k, v) in layer {
                values.insert(k.into(), v.into());
            }
        }
        Variables { values }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Replace every `{{ NAME }}` in `text`. On an undefined name, returns it.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        self.substitute(text, false)
    }

    /// Replace `{{ NAME }}` and FleetFlow's build-arg form `{NAME}` in one pass (so a
    /// value is never expanded twice). Only identifiers are placeholders, so JSON such as
    /// `{"a":1}` is left alone.
    pub fn expand_build_arg(&self, text: &str) -> Result<String, String> {
        self.substitute(text, true)
    }

    fn substitute(&self, text: &str, single_braces: bool) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let (open, close) = if tail.starts_with("{{") {
                ("{{", "}}")
            } else {
                ("{", "}")
            };
            let placeholder = (open == "{{" || single_braces)
                .then(|| tail[open.len()..].find(close))
                .flatten()
                .map(|end| {
                    (
                        tail[open.len()..open.len() + end].trim(),
                        open.len() + end + close.len(),
                    )
                })
                .filter(|(name, _)| is_identifier(name));
            match placeholder {
                Some((name, len)) => {
                    out.push_str(self.get(name).ok_or_else(|| name.to_string())?);
                    rest = &tail[len..];
                }
                None => {
                    out.push_str(&tail[..open.len()]);
                    rest = &tail[open.len()..];
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse a dotenv file: `KEY=VALUE`, optional `export `, `#` comments, quoted values.
/// A missing file is an empty set.
pub(crate) fn read_env_file(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(parse_env(&text))
}

fn parse_env(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // Unquoted: a ` #` starts a comment.
            v.split(" #").next().unwrap_or("").trim().to_string()
        };
        out.push((k.trim().to_string(), v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_expansion() {
        let v = Variables::from_layers([vec![("A", "env"), ("B", "env")], vec![("A", "stage")]]);
        assert_eq!(v.expand("x-{{ A }}-{{B}}").unwrap(), "x-stage-env");
        assert_eq!(v.expand("{{ MISSING }}"), Err("MISSING".to_string()));
        assert_eq!(
            v.expand_build_arg("{A}:{\"json\":1}").unwrap(),
            "stage:{\"json\":1}"
        );
        assert_eq!(v.expand_build_arg("{{ A }}-{B}").unwrap(), "stage-env");
        assert_eq!(
            v.expand("{A}").unwrap(),
            "{A}",
            "single braces only in build args"
        );
        // A value is not expanded again: `{NOPE}` inside X's value stays.
        let v2 = Variables::from_layers([vec![("X", "{NOPE}")]]);
        assert_eq!(v2.expand_build_arg("{{ X }}").unwrap(), "{NOPE}");
        assert_eq!(v.expand("no {{ vars"), Ok("no {{ vars".into()));
    }

    #[test]
    fn dotenv_forms() {
        let e = parse_env("# c\nexport A=1\nB=\"two words\"\nC=x # comment\n\nbad\n");
        assert_eq!(
            e,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
    }
}
