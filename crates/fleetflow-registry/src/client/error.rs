//! What a registry operation fails with. Never a secret: messages come from the
//! registry's answers, our own words, or transport errors.

use std::path::{Path, PathBuf};

/// A registry operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Credentials refused, or none where some are needed, or not sent because the
    /// token realm is not safe to send them to.
    #[error("{registry}: authentication failed ({detail})")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// What the registry said (never a secret).
        detail: String,
    },
    /// Authenticated but not allowed.
    #[error("{registry}: access to {repository} denied ({detail})")]
    Denied {
        /// Registry host.
        registry: String,
        /// Repository.
        repository: String,
        /// What the registry said.
        detail: String,
    },
    /// The image, manifest or blob does not exist.
    #[error("{registry}: {what} not found")]
    NotFound {
        /// Registry host.
        registry: String,
        /// What was asked for.
        what: String,
    },
    /// The registry could not be reached (after retries).
    #[error("{registry}: {message}")]
    Unreachable {
        /// Registry host.
        registry: String,
        /// Why.
        message: String,
    },
    /// The registry answered something flow cannot accept.
    #[error("{registry}: {message}")]
    Protocol {
        /// Registry host.
        registry: String,
        /// What happened.
        message: String,
    },
    /// Content did not match its digest.
    #[error("{registry}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// Registry host.
        registry: String,
        /// What was checked.
        what: String,
        /// Expected digest.
        expected: String,
        /// What it was.
        actual: String,
    },
    /// A local file (a blob being sent or received) failed.
    #[error("{}: {source}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// An error with its sources, `: `-separated.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A local file error.
pub(crate) fn local(path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Local {
        path: path.to_path_buf(),
        source,
    }
}
