//! [`FaultError`]: an argument that cannot be used, named the way the spec names it, so the
//! monkey can point at the spec's field and the agent at its flag.

/// An argument that cannot be used, naming the argument (`delay_ms`; the agent prints it as
/// `--delay-ms`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FaultError {
    /// The argument's name as in the spec (`delay_ms`), or `fault` / `duration`.
    pub field: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl FaultError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The argument as a command-line flag (`--delay-ms`), or the bare name for positionals.
    pub fn flag(&self) -> String {
        match self.field.as_str() {
            "fault" => "<fault>".to_owned(),
            f => format!("--{}", f.replace('_', "-")),
        }
    }
}
