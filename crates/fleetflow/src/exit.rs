//! Exit codes (spec/cli.md): one per error class.

use fleetflow_build::ExitClass;

/// The process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Everything succeeded.
    Success = 0,
    /// Anything not covered below (engine unreachable, I/O).
    Other = 1,
    /// Usage or configuration error (bad flag, KDL error, unknown stage, invalid tag).
    Config = 2,
    /// Registry authentication failed.
    Auth = 3,
    /// At least one build failed.
    BuildFailed = 4,
    /// Push or registry failure.
    Push = 5,
    /// The image (in a registry or the cache) does not exist.
    NotFound = 6,
    /// An archive or content that is invalid (truncated, lying digests, escaping paths).
    BadInput = 7,
}

impl From<ExitClass> for Code {
    fn from(c: ExitClass) -> Code {
        match c {
            ExitClass::Success => Code::Success,
            ExitClass::Push => Code::Push,
            ExitClass::Auth => Code::Auth,
            ExitClass::BuildFailed => Code::BuildFailed,
        }
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(c: Code) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}
