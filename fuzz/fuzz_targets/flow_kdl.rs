//! The flow.kdl loader: the input is a project's only `flow.kdl`. Loading, resolving
//! every stage and rendering any error as the CLI does must not panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use fleetflow_config::{Project, discover};
use libfuzzer_sys::fuzz_target;

fn project_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("flow-fuzz-kdl-")
            .tempdir()
            .expect("temp dir")
            .keep()
    })
}

fn render(e: &dyn miette::Diagnostic) {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    let mut out = String::new();
    let _ = handler.render_report(&mut out, e);
    let _ = e.to_string();
}

fuzz_target!(|data: &[u8]| {
    let dir = project_dir();
    std::fs::write(dir.join("flow.kdl"), data).expect("write flow.kdl");
    let location = match discover(None, None, dir) {
        Ok(l) => l,
        Err(e) => panic!("flow.kdl was just written, discover failed: {e}"),
    };
    let project = match Project::load(location, None) {
        Ok(p) => p,
        Err(e) => return render(&e),
    };
    let _ = project.project_name();
    let stages: Vec<Option<String>> = std::iter::once(None)
        .chain(project.stages.iter().map(|s| Some(s.name.clone())))
        .collect();
    for stage in stages {
        if let Err(e) = project.resolve_stage(stage.as_deref(), std::iter::empty()) {
            render(&e);
        }
    }
});
