//! A failed `flow image` command: its exit code, message and remedies, rendered in any
//! language (the user's on stderr, English in JSON events). Library errors keep their
//! own text; the texts the CLI writes come from [`Messages`].

use fleetflow_registry::RegistryError;
use fleetflow_store::archive::ArchiveError;
use fleetflow_store::cache::CacheError;
use fleetflow_store::transfer::TransferError;

use crate::exit::Code;
use crate::failure::Failure;
use crate::messages::Messages;

/// A text in the language of the [`Messages`] it is rendered with.
type Text = Box<dyn Fn(&Messages) -> String + Send + Sync>;

/// A failure with its exit code, message and remedies, in every language.
pub(super) struct ImageFailure {
    pub(super) code: Code,
    message: Text,
    remedies: Vec<Text>,
}

impl ImageFailure {
    /// A failure the CLI words.
    pub(super) fn new(
        code: Code,
        message: impl Fn(&Messages) -> String + Send + Sync + 'static,
    ) -> ImageFailure {
        ImageFailure {
            code,
            message: Box::new(message),
            remedies: Vec::new(),
        }
    }

    /// A failure worded elsewhere (a library error): the same in every language.
    pub(super) fn text(code: Code, message: String) -> ImageFailure {
        ImageFailure::new(code, move |_| message.clone())
    }

    /// Add a remedy.
    pub(super) fn hint(
        mut self,
        hint: impl Fn(&Messages) -> String + Send + Sync + 'static,
    ) -> ImageFailure {
        self.remedies.push(Box::new(hint));
        self
    }

    /// The message in the language of `m`.
    pub(super) fn message(&self, m: &Messages) -> String {
        (self.message)(m)
    }

    /// The failure the printer shows, in the language of `m`.
    pub(super) fn render(&self, m: &Messages) -> Failure {
        let mut f = Failure::new(self.code, self.message(m));
        for r in &self.remedies {
            f = f.hint(r(m));
        }
        f
    }
}

impl From<RegistryError> for ImageFailure {
    fn from(e: RegistryError) -> ImageFailure {
        let code = match &e {
            RegistryError::Unauthorized { .. } | RegistryError::Denied { .. } => Code::Auth,
            RegistryError::NotFound { .. } => Code::NotFound,
            RegistryError::DigestMismatch { .. } => Code::BadInput,
            RegistryError::Local { .. } => Code::Other,
            _ => Code::Push,
        };
        let f = ImageFailure::text(code, e.to_string());
        match e {
            RegistryError::Unauthorized { registry, .. } => f
                .hint(move |m| m.image_login_hint(&registry))
                .hint(|m| m.auth_hint_ci().to_string()),
            RegistryError::Unreachable { .. } => f.hint(|m| m.image_unreachable_hint().to_string()),
            _ => f,
        }
    }
}

impl From<CacheError> for ImageFailure {
    fn from(e: CacheError) -> ImageFailure {
        let code = match &e {
            CacheError::Missing(_) => Code::NotFound,
            _ => Code::Other,
        };
        ImageFailure::text(code, e.to_string())
    }
}

impl From<ArchiveError> for ImageFailure {
    fn from(e: ArchiveError) -> ImageFailure {
        match e {
            ArchiveError::Cache(c) => c.into(),
            ArchiveError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                let path = path.display().to_string();
                ImageFailure::new(Code::NotFound, move |m| m.image_no_such_file(&path))
            }
            other => ImageFailure::text(Code::BadInput, other.to_string())
                .hint(|m| m.image_archive_rejected_hint().to_string()),
        }
    }
}

impl From<TransferError> for ImageFailure {
    fn from(e: TransferError) -> ImageFailure {
        match e {
            TransferError::Registry(e) => e.into(),
            TransferError::Cache(e) => e.into(),
            TransferError::Archive(e) => e.into(),
            e @ TransferError::Manifest { .. } => ImageFailure::text(Code::Push, e.to_string()),
            e @ TransferError::SeveralImages { .. } => {
                ImageFailure::text(Code::Config, e.to_string())
            }
        }
    }
}
