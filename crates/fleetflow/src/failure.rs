//! A command's failure: its exit [`Code`], the message, what it concerns and how to fix
//! it. Commands return one; the printer renders it in the specification's layout.

use fleetflow_build::BuildError;
use fleetflow_build::auth::PushAccessError;
use fleetflow_oci::ReferenceError;

use crate::exit::Code;
use crate::messages::Messages;

/// A failure with its exit code, message, target and remedies.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The exit code it ends the process with.
    pub code: Code,
    /// What went wrong (may span lines).
    pub message: String,
    /// What it concerns (a reference, a file).
    pub target: Option<String>,
    /// How to fix it.
    pub remedies: Vec<String>,
}

impl Failure {
    /// A failure with no target and no remedy yet.
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            target: None,
            remedies: Vec::new(),
        }
    }

    /// With what it concerns.
    pub fn target(mut self, target: impl Into<String>) -> Failure {
        self.target = Some(target.into());
        self
    }

    /// With one more remedy.
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.remedies.push(hint.into());
        self
    }
}

/// The registry refused our credentials (the specification's layout and remedies).
pub fn auth(m: &Messages, registry: &str, target: &str, detail: &str) -> Failure {
    Failure::new(
        Code::Auth,
        format!("{}\n{}: {detail}", m.auth_failed(), m.detail_label()),
    )
    .target(target)
    .hint(m.auth_hint_login(registry))
    .hint(m.auth_hint_ci())
}

/// Why `flow build --push` cannot start.
pub fn push_access(m: &Messages, e: PushAccessError) -> Failure {
    match e {
        PushAccessError::NoRegistry { service, reference } => {
            Failure::new(Code::Config, m.no_registry())
                .target(format!("{reference} ({service})"))
                .hint(m.no_registry_hint())
        }
        PushAccessError::Credentials(e) => {
            Failure::new(Code::Auth, m.credentials_unreadable()).target(e.to_string())
        }
        PushAccessError::Refused {
            registry,
            target,
            detail,
        } => auth(m, &registry, &target, &detail),
        PushAccessError::Unreachable { target, message } => {
            Failure::new(Code::Push, m.registry_unreachable())
                .target(target)
                .hint(message)
        }
    }
}

/// A plan that cannot be made (invalid tags, names, templates, `.dockerignore`).
pub fn plan(m: &Messages, e: BuildError) -> Failure {
    let (heading, hints): (&str, Vec<&str>) = match &e {
        BuildError::InvalidTag(_) => (m.invalid_tag(), vec![m.invalid_tag_hint()]),
        BuildError::Reference {
            source: ReferenceError::InvalidTag { .. },
            ..
        } => (
            m.invalid_tag(),
            vec![m.invalid_tag_hint(), m.invalid_tag_in_file_hint()],
        ),
        BuildError::Reference { .. } => (m.invalid_image(), vec![m.invalid_image_hint()]),
        BuildError::TagTemplate(_) | BuildError::NoTemplateTag { .. } => {
            (m.invalid_tag(), vec![m.tag_template_hint()])
        }
        _ => (m.config_invalid(), vec![]),
    };
    let mut f = Failure::new(Code::Config, heading).target(e.to_string());
    for h in hints {
        f = f.hint(h);
    }
    f
}
