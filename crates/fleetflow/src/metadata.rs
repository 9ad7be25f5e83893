//! Release metadata of `flow build`: the `--metadata-file` JSON, GitHub Actions step
//! outputs (`GITHUB_OUTPUT`) and the job summary table (`GITHUB_STEP_SUMMARY`). All three
//! are made from one document, so they always agree (spec/build.md, "Release metadata").

use std::io::Write;
use std::path::Path;

use fleetflow_build::{BuildError, BuildPlan, Outcome, PushError};
use serde_json::{Value, json};

/// What happened to a service, as the metadata names it (`pushing`: `--push` was given).
fn status(o: &Outcome, pushing: bool) -> &'static str {
    match (&o.result, &o.push) {
        (Err(BuildError::Cancelled), _) => "skipped",
        (Err(_), _) => "failed",
        (Ok(_), Some(Err(PushError::Withheld { .. }))) => "built",
        (Ok(_), Some(Err(_))) => "failed",
        (Ok(img), Some(Ok(_))) if img.reused => "reused",
        (Ok(_), Some(Ok(_))) => "pushed",
        // Pushing, but neither pushed nor failed: cancelled by --fail-fast.
        (Ok(_), None) if pushing => "skipped",
        (Ok(_), None) => "built",
    }
}

/// The metadata document: `{"project", "stage", "services": {name: {...}}}`.
pub fn document(plan: &BuildPlan, outcomes: &[Outcome], pushing: bool) -> Value {
    let mut services = serde_json::Map::new();
    for (b, o) in plan.builds.iter().zip(outcomes) {
        let image = b.repository.to_string();
        let pushed = o.push.as_ref().and_then(|p| p.as_ref().ok());
        let digest = pushed.map(|p| p.digest.clone());
        let mut entry = json!({
            "image": image,
            "tags": b.tags,
            "references": b.references().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "digest": digest,
            "ref": digest.as_ref().map(|d| format!("{image}@{d}")),
            "status": status(o, pushing),
            "duration_ms": o.elapsed.as_millis() as u64,
            "image_id": o.result.as_ref().ok().map(|i| i.id.clone()),
            "inputs": o.inputs.as_ref().map(ToString::to_string),
        });
        let error = match (&o.result, &o.push) {
            (Err(e), _) => Some(e.to_string()),
            (Ok(_), Some(Err(e))) => Some(e.to_string()),
            (Ok(_), None) if pushing => Some(BuildError::Cancelled.to_string()),
            _ => None,
        };
        if let Some(e) = error {
            entry["error"] = json!(e);
        }
        services.insert(o.service.clone(), entry);
    }
    for (name, _) in &plan.skipped {
        services.insert(
            name.clone(),
            json!({"image": null, "tags": [], "digest": null, "ref": null,
                   "status": "skipped", "duration_ms": 0}),
        );
    }
    json!({ "project": plan.project, "stage": plan.stage, "services": services })
}

/// Write `doc` to `path` atomically (a temporary file in the same folder, renamed).
pub fn write_file(path: &Path, doc: &Value) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut bytes = serde_json::to_vec_pretty(doc)?;
    bytes.push(b'\n');
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A step output name: GitHub accepts letters, digits, `-` and `_`.
fn output_name(service: &str, field: &str) -> String {
    let s: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{s}-{field}")
}

fn services(doc: &Value) -> impl Iterator<Item = (&String, &Value)> {
    doc["services"].as_object().into_iter().flatten()
}

/// The step outputs: `metadata` (the whole document, one line of JSON) and, per service,
/// `<service>-ref`, `<service>-digest`, `<service>-tags` (comma-separated) and
/// `<service>-status`.
pub fn outputs(doc: &Value) -> String {
    let mut out = String::new();
    let json = serde_json::to_string(doc).expect("a JSON value serialises");
    // The multi-line form, with a delimiter that cannot occur in one-line JSON.
    out.push_str(&format!(
        "metadata<<FLOW_METADATA_EOF\n{json}\nFLOW_METADATA_EOF\n"
    ));
    for (name, s) in services(doc) {
        let text = |v: &Value| v.as_str().unwrap_or_default().replace(['\n', '\r'], " ");
        let tags: Vec<String> = s["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        out.push_str(&format!(
            "{}={}\n",
            output_name(name, "ref"),
            text(&s["ref"])
        ));
        out.push_str(&format!(
            "{}={}\n",
            output_name(name, "digest"),
            text(&s["digest"])
        ));
        out.push_str(&format!(
            "{}={}\n",
            output_name(name, "tags"),
            tags.join(",")
        ));
        out.push_str(&format!(
            "{}={}\n",
            output_name(name, "status"),
            text(&s["status"])
        ));
    }
    out
}

/// The job summary: one Markdown table row per service.
pub fn summary(doc: &Value) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let mut out = format!(
        "### flow build: stage `{}`\n\n| Service | Status | Image | Tags | Digest | Time |\n|---|---|---|---|---|---|\n",
        cell(doc["stage"].as_str().unwrap_or_default())
    );
    for (name, s) in services(doc) {
        let tags: Vec<String> = s["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .map(|t| format!("`{}`", cell(t)))
            .collect();
        let code = |v: &Value| {
            v.as_str()
                .map_or_else(|| "–".to_string(), |t| format!("`{}`", cell(t)))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} s |\n",
            cell(name),
            cell(s["status"].as_str().unwrap_or_default()),
            code(&s["image"]),
            if tags.is_empty() {
                "–".to_string()
            } else {
                tags.join(", ")
            },
            code(&s["digest"]),
            s["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
        ));
    }
    out.push('\n');
    out
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Append the step outputs to the `GITHUB_OUTPUT` file.
pub fn append_outputs(path: &Path, doc: &Value) -> std::io::Result<()> {
    append(path, &outputs(doc))
}

/// Append the summary table to the `GITHUB_STEP_SUMMARY` file.
pub fn append_summary(path: &Path, doc: &Value) -> std::io::Result<()> {
    append(path, &summary(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({"stage": "prod", "services": {
            "api": {"image": "r.io/o/api", "tags": ["1.4.2", "latest"], "digest": "sha256:ab",
                    "ref": "r.io/o/api@sha256:ab", "status": "pushed", "duration_ms": 1500},
            "web ui": {"image": null, "tags": [], "digest": null, "ref": null,
                       "status": "skipped", "duration_ms": 0},
        }})
    }

    #[test]
    fn outputs_name_every_field_of_every_service() {
        let out = outputs(&doc());
        assert!(out.starts_with("metadata<<FLOW_METADATA_EOF\n{"), "{out}");
        assert!(out.contains("\napi-ref=r.io/o/api@sha256:ab\n"), "{out}");
        assert!(out.contains("\napi-tags=1.4.2,latest\n"), "{out}");
        assert!(out.contains("\nweb_ui-status=skipped\n"), "{out}");
        assert!(out.contains("\nweb_ui-digest=\n"), "{out}");
        // The document inside round-trips.
        let json = out.lines().nth(1).unwrap();
        assert_eq!(serde_json::from_str::<Value>(json).unwrap(), doc());
    }

    #[test]
    fn summary_is_a_markdown_table() {
        let s = summary(&doc());
        assert!(
            s.contains("| api | pushed | `r.io/o/api` | `1.4.2`, `latest` | `sha256:ab` | 1.5 s |"),
            "{s}"
        );
        assert!(
            s.contains("| web ui | skipped | – | – | – | 0.0 s |"),
            "{s}"
        );
    }
}
