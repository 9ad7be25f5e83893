//! A finished command: exit code, output, and the `--progress json` events.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

/// What a command did. `Display` shows all of it, for assertion messages.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Assert the exit code (the message shows both streams).
    #[track_caller]
    pub fn assert_code(&self, want: i32) -> &Run {
        assert_eq!(self.code, want, "{self}");
        self
    }

    /// Assert success (exit 0).
    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        self.assert_code(0)
    }

    /// stdout then stderr, for checks that something appears in neither.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Every `--progress json` event, in order: each non-empty stdout line must be one
    /// JSON object (a line that is not is a failure, as the specification allows none).
    #[track_caller]
    pub fn all_events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v) if v.is_object() => v,
                _ => panic!("not a JSON event: {l:?}\n{self}"),
            })
            .collect()
    }

    /// The events named `name` (`"event": name`).
    #[track_caller]
    pub fn events(&self, name: &str) -> Vec<Value> {
        self.all_events()
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }

    /// The events named `name` for `service`.
    #[track_caller]
    pub fn service_events(&self, name: &str, service: &str) -> Vec<Value> {
        self.all_events()
            .into_iter()
            .filter(|e| e["event"] == name && e["service"] == service)
            .collect()
    }

    /// Is there an event `name` for `service`?
    #[track_caller]
    pub fn has_event(&self, name: &str, service: &str) -> bool {
        !self.service_events(name, service).is_empty()
    }

    /// The first event named `name`; a failure if there is none.
    #[track_caller]
    pub fn event(&self, name: &str) -> Value {
        self.events(name)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no `{name}` event\n{self}"))
    }

    /// The last event (the summary of `flow build`).
    #[track_caller]
    pub fn last_event(&self) -> Value {
        self.all_events()
            .pop()
            .unwrap_or_else(|| panic!("no event at all\n{self}"))
    }

    /// stdout as one JSON document (`--json` listings).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}\n{self}"))
    }

    /// The digest of the pinned reference (`repo@sha256:…`) on stdout's last line.
    #[track_caller]
    pub fn pinned_digest(&self) -> String {
        crate::util::digest_of(&self.stdout)
    }
}

/// Running a [`Command`] into a [`Run`].
pub trait RunExt {
    /// Run it to the end, capturing both streams (stdin is empty).
    fn run(&mut self) -> Run;
    /// Run it with `input` on stdin.
    fn run_with_stdin(&mut self, input: &str) -> Run;
}

impl RunExt for Command {
    fn run(&mut self) -> Run {
        Run::of(
            self.stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("{:?}: {e}", self.get_program())),
        )
    }

    fn run_with_stdin(&mut self, input: &str) -> Run {
        self.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .spawn()
            .unwrap_or_else(|e| panic!("{:?}: {e}", self.get_program()));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::of(child.wait_with_output().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stdout: &str) -> Run {
        Run {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    #[test]
    fn events_are_found_by_name_and_service() {
        let r = run(concat!(
            r#"{"event":"built","service":"api"}"#,
            "\n",
            r#"{"event":"pushed","service":"api","digest":"sha256:1"}"#,
            "\n",
            r#"{"event":"pushed","service":"web","digest":"sha256:2"}"#,
            "\n\n",
            r#"{"event":"summary","pushed":2}"#,
            "\n"
        ));
        assert_eq!(r.all_events().len(), 4);
        assert_eq!(r.events("pushed").len(), 2);
        assert_eq!(r.event("pushed")["digest"], "sha256:1");
        assert_eq!(r.service_events("pushed", "web")[0]["digest"], "sha256:2");
        assert!(r.has_event("built", "api") && !r.has_event("built", "web"));
        assert_eq!(r.last_event()["pushed"], 2);
    }

    #[test]
    fn a_line_that_is_not_an_event_fails() {
        let r = run("{\"event\":\"plan\"}\nBuilding api...\n");
        assert!(std::panic::catch_unwind(|| r.all_events()).is_err());
        assert!(std::panic::catch_unwind(|| run("").event("pushed")).is_err());
    }
}
