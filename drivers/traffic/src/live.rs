//! The live line on stderr: rate, success %, p50 / p99 of the current period. On a terminal it
//! is redrawn in place (`\r`) and kept as a line of its own when the period closes; otherwise
//! (a pipe, a CI log) one line is written per period, so logs are not flooded.

use std::io::Write;
use std::time::Duration;

use crate::stats::Window;

/// One status line: `[01:30] period 2 ·  9.98 req/s · ok  75.00% · p50 3.1ms · p99 8.0ms · total 900`.
pub fn line(
    elapsed: Duration,
    index: u64,
    window: &Window,
    length: Duration,
    total: &Window,
) -> String {
    let rate = if length.is_zero() {
        0.0
    } else {
        window.requests as f64 / length.as_secs_f64()
    };
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}ms"));
    let ok = window
        .success_rate()
        .map_or("-".to_owned(), |v| format!("{v:6.2}%"));
    let secs = elapsed.as_secs_f64().round() as u64;
    let clock = if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{:02}:{:02}", secs / 60, secs % 60)
    };
    format!(
        "[{clock}] period {index} · {rate:6.2} req/s · ok {ok} · p50 {} · p99 {} · total {} ({} failed)",
        ms(window.p50_ms()),
        ms(window.p99_ms()),
        total.requests,
        total.failed(),
    )
}

/// Writes status lines to stderr, in place on a terminal.
#[derive(Debug)]
pub struct Live {
    tty: bool,
    drawn: bool,
}

impl Live {
    /// `tty`: whether stderr is a terminal.
    pub fn new(tty: bool) -> Self {
        Self { tty, drawn: false }
    }

    /// Whether progress redraws are wanted.
    pub fn redraws(&self) -> bool {
        self.tty
    }

    /// Redraws the line in place (terminals only).
    pub fn progress(&mut self, text: &str) {
        if self.tty {
            let mut e = std::io::stderr().lock();
            // `\x1b[K` clears what a longer previous line left behind.
            let _ = write!(e, "\r{text}\x1b[K");
            let _ = e.flush();
            self.drawn = true;
        }
    }

    /// Writes a closed period's line for good.
    pub fn period(&mut self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = if self.tty {
            writeln!(e, "\r{text}\x1b[K")
        } else {
            writeln!(e, "{text}")
        };
        self.drawn = false;
    }

    /// Ends a half-drawn line so what follows starts on a fresh one.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::RequestOutcome;

    #[test]
    fn the_line_shows_rate_success_and_percentiles() {
        let mut w = Window::default();
        for code in [200, 200, 200, 500] {
            w.record(RequestOutcome::Status {
                code,
                ok: code == 200,
                latency: Duration::from_millis(4),
            });
        }
        let l = line(Duration::from_secs(90), 1, &w, Duration::from_secs(2), &w);
        assert!(l.starts_with("[01:30] period 1 · "), "{l}");
        for part in [
            "2.00 req/s",
            "ok  75.00%",
            "p50 4.0ms",
            "p99 4.0ms",
            "total 4 (1 failed)",
        ] {
            assert!(l.contains(part), "{part:?} in {l}");
        }
        let empty = line(Duration::ZERO, 0, &Window::default(), Duration::ZERO, &w);
        assert!(empty.contains("ok - · p50 - · p99 -"), "{empty}");
    }
}
