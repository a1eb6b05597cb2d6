//! The agent's two clocks. Deadlines run on [`boot_ms`] (`CLOCK_BOOTTIME`: monotonic, counts
//! time suspended, never stepped by NTP or an operator), so a wall clock that jumps cannot
//! end a fault early or keep it late. Milliseconds since the Unix epoch ([`now_ms`]) and their
//! human form are what state files and events show people. Imports nothing from the rest of
//! the agent, so every module may use it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds on `CLOCK_BOOTTIME` (since boot, including time suspended). Never goes back
/// within one boot; restarts at zero on reboot (the boot cleanup unit rolls every fault back
/// then).
pub fn boot_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_BOOTTIME exists since Linux 2.6.39.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME) failed");
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
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

    #[test]
    fn the_boot_clock_moves_forward_with_real_time() {
        let a = boot_ms();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = boot_ms();
        assert!((25..1000).contains(&(b - a)), "{a} -> {b}");
    }
}
