//! Durations written for people: [`short_duration`] (`2m 31s`), shared by the conditions and
//! the closing message.

/// `2m 31s`, `45s`, `1h 5s`, `30m`: whole seconds, zero parts left out.
pub fn short_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(151), "2m 31s");
        assert_eq!(short_duration(1800), "30m");
        assert_eq!(short_duration(3605), "1h 5s");
    }
}
