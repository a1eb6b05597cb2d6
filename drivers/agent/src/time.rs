//! Wall-clock time as the agent records it: milliseconds since the Unix epoch (state files,
//! events, deadlines) and their human form. Imports nothing from the rest of the agent, so
//! every module may use it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An epoch-ms instant as `HH:MM:SS.mmm UTC`.
pub fn format_ms(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03} UTC",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_ms_as_utc_time_of_day() {
        assert_eq!(format_ms(0), "00:00:00.000 UTC");
        assert_eq!(format_ms(86_400_000 + 3_723_045), "01:02:03.045 UTC");
    }
}
