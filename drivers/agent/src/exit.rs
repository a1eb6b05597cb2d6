//! How the agent fails: [`Exit`] carries the exit code (2 bad arguments, 3 refused before
//! anything was touched, 4 a rollback that left something behind, 1 anything else) through `anyhow` to `main`. Imports nothing from the
//! rest of the agent, so every module may refuse.

use faultline_faults::FaultError;

/// A refusal or failure with its exit code: 2 bad arguments, 3 refused, 4 rollback
/// incomplete, 1 anything else.
#[derive(Debug)]
pub struct Exit {
    code: u8,
    message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Bad arguments: exit 2.
pub fn usage(e: &FaultError) -> anyhow::Error {
    Exit {
        code: 2,
        message: format!(
            "invalid argument {}: {}; nothing was changed",
            e.flag(),
            e.message
        ),
    }
    .into()
}

/// Refused before touching anything (a fault already active, a disk too full): exit 3.
pub fn refused(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: 3,
        message: message.into(),
    }
    .into()
}

/// A rollback that could not remove everything, even after its retries: exit 4. The state
/// file stays, so `rollback <id>` (or the boot cleanup) can finish it.
pub fn rollback_failed(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: 4,
        message: message.into(),
    }
    .into()
}

/// The exit code for an error: [`Exit`]'s own, 1 for anything else.
pub fn code_of(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<Exit>().map(|x| x.code).unwrap_or(1)
}
