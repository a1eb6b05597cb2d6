//! The faultline monkey Lambda: scheduled event → guards → pick targets → act → record →
//! notify. All decisions live in `faultline_core` (`monkey`, `round`); this crate adapts them
//! to `lambda_runtime`: the entry point in `main.rs`, and [`diagnostic`], the error the runtime
//! reports, with a stable `errorType`.

use faultline_core::monkey::MonkeyError;
use lambda_runtime::Diagnostic;

/// The Lambda error for a failed invocation: `errorType` `InvalidSpec` or `AwsError`, and a
/// message that says what to do.
pub fn diagnostic(e: MonkeyError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().to_owned(),
        error_message: e.to_string(),
    }
}
