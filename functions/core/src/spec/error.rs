//! [`SpecError`]: why a spec cannot be run, naming the dotted path of the offending field.

/// A spec that cannot be run, with the dotted path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid experiment spec: {path}: {message}")]
pub struct SpecError {
    /// Dotted path of the field, e.g. `experiment.selection.value` (`.` for the whole input).
    pub path: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl SpecError {
    pub(super) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}
