//! Rewriting a Dockerfile to carry the image labels in one `LABEL` instruction.
//!
//! The classic builder turns each label passed through the API into its own `LABEL` step,
//! and each step creates and commits a container: with the four OCI labels that is four
//! extra container round trips per image, which the build+push benchmark measured as a
//! real cost on a 2-core machine. Writing one `LABEL` at the end of the built stage gives
//! the same image config in one step. When the Dockerfile cannot be rewritten safely
//! (custom escape character, a value with a newline, unknown target), the caller falls
//! back to API labels.

use std::collections::BTreeMap;

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `text` with one `LABEL` for `labels` at the end of the stage `target` (the last stage
/// when `None`), or `None` when it cannot be done safely.
pub fn with_labels(
    text: &str,
    target: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    if labels.is_empty() {
        return Some(text.to_string());
    }
    if labels
        .iter()
        .any(|(k, v)| k.contains(['\n', '\r']) || v.contains(['\n', '\r']))
    {
        return None;
    }
    // Parser directives come first; only the default escape character is handled.
    for line in text.lines() {
        let l = line.trim();
        if !l.starts_with('#') {
            break;
        }
        let directive = l.trim_start_matches('#').trim().to_ascii_lowercase();
        if directive.starts_with("escape") && !directive.ends_with('\\') {
            return None;
        }
    }
    // Byte offsets where each FROM instruction starts, with its stage name.
    let mut stages: Vec<(usize, Option<String>)> = Vec::new();
    let mut offset = 0;
    let mut continued = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let is_comment = trimmed.starts_with('#');
        if !continued && !is_comment {
            let mut words = trimmed.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("from")) {
                let rest: Vec<&str> = words.collect();
                let name = rest
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case("as"))
                    .and_then(|i| rest.get(i + 1))
                    .map(|n| n.to_ascii_lowercase());
                stages.push((offset, name));
            }
        }
        if !is_comment {
            continued = trimmed.ends_with('\\');
        }
        offset += line.len();
    }
    let index = match target {
        Some(t) => stages
            .iter()
            .position(|(_, n)| n.as_deref() == Some(&t.to_ascii_lowercase()))?,
        None => stages.len().checked_sub(1)?,
    };
    let insert_at = stages.get(index + 1).map_or(text.len(), |(o, _)| *o);
    let label = format!(
        "LABEL {}\n",
        labels
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut out = String::with_capacity(text.len() + label.len() + 1);
    out.push_str(&text[..insert_at]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&label);
    out.push_str(&text[insert_at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        [
            ("a.b".to_string(), "x \"y\" $HOME".to_string()),
            ("c".to_string(), "1".to_string()),
        ]
        .into()
    }

    #[test]
    fn label_goes_to_the_end_of_the_target_stage() {
        let df = "FROM base AS build\nRUN make \\\n  FROM-not-an-instruction\n# FROM comment\nfrom build as Release\nRUN x\nFROM base AS test\nRUN t";
        let out = with_labels(df, Some("release"), &labels()).unwrap();
        assert_eq!(
            out,
            "FROM base AS build\nRUN make \\\n  FROM-not-an-instruction\n# FROM comment\nfrom build as Release\nRUN x\nLABEL \"a.b\"=\"x \\\"y\\\" \\$HOME\" \"c\"=\"1\"\nFROM base AS test\nRUN t"
        );
        let last = with_labels(df, None, &labels()).unwrap();
        assert!(last.ends_with("RUN t\nLABEL \"a.b\"=\"x \\\"y\\\" \\$HOME\" \"c\"=\"1\"\n"));
    }

    #[test]
    fn falls_back_when_unsafe() {
        assert!(with_labels("# escape=`\nFROM x\n", None, &labels()).is_none());
        assert!(with_labels("FROM x\n", Some("nope"), &labels()).is_none());
        let nl: BTreeMap<_, _> = [("k".to_string(), "a\nb".to_string())].into();
        assert!(with_labels("FROM x\n", None, &nl).is_none());
        assert_eq!(
            with_labels("FROM x\n", None, &BTreeMap::new()).unwrap(),
            "FROM x\n"
        );
    }
}

/// Expand `$NAME`, `${NAME}` and `${NAME:-default}` from `vars` (unknown names become
/// empty, as in Docker).
fn expand_args(s: &str, vars: &std::collections::HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let inner: String = chars.by_ref().take_while(|c| *c != '}').collect();
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner.as_str(), None),
            };
            match (vars.get(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {}
            }
        } else {
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' {
                    name.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                out.push('$');
            } else if let Some(v) = vars.get(&name) {
                out.push_str(v);
            }
        }
    }
    out
}

/// The images a Dockerfile builds `FROM` (not `scratch`, not earlier stages), with
/// build args and `ARG` defaults declared before the first `FROM` substituted.
pub fn base_images(text: &str, build_args: &[(String, String)]) -> Vec<String> {
    let mut vars: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    let mut seen_from = false;
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') && logical.is_empty() {
            continue;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(trimmed);
        let instruction = std::mem::take(&mut logical);
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        if keyword.eq_ignore_ascii_case("arg") && !seen_from {
            for decl in words {
                let (name, default) = decl.split_once('=').unwrap_or((decl, ""));
                let value = build_args
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| default.trim_matches('"').to_string());
                vars.insert(name.to_string(), value);
            }
        } else if keyword.eq_ignore_ascii_case("from") {
            seen_from = true;
            let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
            let Some(image) = rest.first().map(|i| expand_args(i, &vars)) else {
                continue;
            };
            let lower = image.to_ascii_lowercase();
            if lower != "scratch" && !stages.contains(&lower) && !images.contains(&image) {
                images.push(image);
            }
            if let Some(i) = rest.iter().position(|w| w.eq_ignore_ascii_case("as"))
                && let Some(alias) = rest.get(i + 1)
            {
                stages.push(alias.to_ascii_lowercase());
            }
        }
    }
    images
}

#[cfg(test)]
mod base_image_tests {
    use super::*;

    #[test]
    fn from_lines_with_args_stages_and_scratch() {
        let df = "ARG BASE=reg.example.com/base:1\nARG TAG\nFROM ${BASE} AS build\nRUN x\nFROM --platform=linux/amd64 ghcr.io/org/run:${TAG:-latest} AS run\nFROM build\nFROM scratch\nFROM $BASE\nFROM run\n";
        assert_eq!(
            base_images(df, &[]),
            vec!["reg.example.com/base:1", "ghcr.io/org/run:latest"]
        );
        let args = [
            ("BASE".to_string(), "other.io/b".to_string()),
            ("TAG".to_string(), "2".to_string()),
        ];
        assert_eq!(
            base_images(df, &args),
            vec!["other.io/b", "ghcr.io/org/run:2"]
        );
    }
}
