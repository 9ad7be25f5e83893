//! Release metadata of `flow build`: the `--metadata-file` JSON, GitHub Actions step
//! outputs (`GITHUB_OUTPUT`) and the job summary table (`GITHUB_STEP_SUMMARY`). All three
//! are made from one document, so they always agree (spec/build.md, "Release metadata").

use std::io::Write;
use std::path::{Path, PathBuf};

use fleetflow_build::RunSummary;
use serde_json::{Value, json};

/// The metadata document: `{"project", "stage", "services": {name: {...}}}`.
pub fn document(run: &RunSummary<'_>) -> Value {
    let mut services = serde_json::Map::new();
    for s in run.services() {
        let o = s.outcome;
        let mut entry = json!({
            "image": s.image,
            "tags": s.tags,
            "references": s.references,
            "digest": s.digest,
            "ref": s.pinned,
            "status": s.status.as_str(),
            "duration_ms": o.elapsed.as_millis() as u64,
            "image_id": o.result.as_ref().ok().map(|i| i.id.clone()),
            "inputs": o.inputs.as_ref().map(ToString::to_string),
        });
        if let Some(e) = &s.error {
            entry["error"] = json!(e);
        }
        services.insert(o.service.clone(), entry);
    }
    for (name, _) in &run.plan.skipped {
        services.insert(
            name.clone(),
            json!({"image": null, "tags": [], "digest": null, "ref": null,
                   "status": "skipped", "duration_ms": 0}),
        );
    }
    json!({ "project": run.plan.project, "stage": run.plan.stage, "services": services })
}

/// Write every metadata the run asks for: `--metadata-file`, and in GitHub Actions the
/// step outputs (`GITHUB_OUTPUT`) and the job summary (`GITHUB_STEP_SUMMARY`). Returns
/// each file with how writing it went.
pub fn write_all(
    run: &RunSummary<'_>,
    metadata_file: Option<&Path>,
) -> Vec<(PathBuf, std::io::Result<()>)> {
    let doc = document(run);
    let mut written = Vec::new();
    if let Some(path) = metadata_file {
        written.push((path.to_path_buf(), write_file(path, &doc)));
    }
    let github = |name: &str| {
        std::env::var_os(name)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    };
    if let Some(path) = github("GITHUB_OUTPUT") {
        let r = append(&path, &outputs(&doc));
        written.push((path, r));
    }
    if let Some(path) = github("GITHUB_STEP_SUMMARY") {
        let r = append(&path, &summary(&doc));
        written.push((path, r));
    }
    written
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
