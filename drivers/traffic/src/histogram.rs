//! The latency histogram behind p50 / p99: an [`hdrhistogram`] set to the driver's units, range
//! and precision. Its memory is fixed, so a long run at a high rate keeps no per-request samples.
//!
//! - Values are microseconds, tracked from 0 to one day (the longest `--timeout`); a larger
//!   value counts as one day.
//! - Precision is 3 significant digits: values under 2048 µs are exact, larger ones share a
//!   bucket less than 0.1% wide.
//! - Percentiles are nearest rank: the `q` quantile of `n` values is the smallest recorded value
//!   with at least `ceil(q * n)` values (and at least one) at or below it. It is reported as the
//!   top of its bucket, so it is never below the true value, and above it by less than 0.1%.
//! - Each histogram holds 28,672 counters (224 KiB), whatever it counts and however many.

/// Significant digits kept.
const SIGFIG: u8 = 3;
/// The highest value tracked: one day in µs, the longest `--timeout` (an answer arrives before
/// the timeout, and a timeout is counted at its value).
const MAX_MICROS: u64 = 86_400 * 1_000_000;

/// Counts of latencies, mergeable.
#[derive(Clone)]
pub struct Histogram(hdrhistogram::Histogram<u64>);

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.0.len())
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self(
            hdrhistogram::Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG)
                .expect("constant bounds are valid"),
        )
    }
}

impl Histogram {
    /// Records one latency in microseconds (over one day counts as one day).
    pub fn record(&mut self, micros: u64) {
        self.0.saturating_record(micros);
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        // Only fails when `other` tracks values out of this one's range; both have the same.
        self.0.add(&other.0).expect("histograms share their bounds");
    }

    /// The `q` quantile (0 < q <= 1) in microseconds, nearest rank, reported as the top of its
    /// bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        (!self.is_empty()).then(|| self.0.value_at_quantile(q))
    }

    /// The `q` quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.quantile(q).map(|us| us as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.quantile(1.0), Some(100));
        assert_eq!(h.quantile(0.001), Some(1), "the rank is at least 1");

        let mut h = Histogram::default();
        h.record(0);
        assert_eq!(h.quantile(1.0), Some(0), "a sub-µs answer");
        h.record(2047);
        assert_eq!(h.quantile(0.5), Some(0));
        assert_eq!(h.quantile(1.0), Some(2047), "the last exact value");
        h.record(2048);
        h.record(2049);
        assert_eq!(h.quantile(1.0), Some(2049), "2048 and 2049 share a bucket");
    }

    #[test]
    fn large_values_are_nearest_rank_within_a_tenth_of_a_percent_above() {
        // A skewed spread from 200 µs to 3 s, checked against the exact nearest-rank answer.
        let mut values: Vec<u64> = (0..10_000u64).map(|i| 200 + i * i % 3_000_000).collect();
        let mut h = Histogram::default();
        values.iter().for_each(|v| h.record(*v));
        values.sort_unstable();
        for q in [0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = values[((q * values.len() as f64).ceil() as usize).max(1) - 1];
            let got = h.quantile(q).unwrap();
            assert!(got >= exact, "q{q}: {got} below {exact}");
            assert!(
                (got - exact) as f64 / (exact as f64) < 0.001,
                "q{q}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn a_one_day_timeout_is_tracked_and_beyond_is_clamped() {
        let mut h = Histogram::default();
        h.record(MAX_MICROS);
        let day = h.quantile(1.0).unwrap();
        assert!(
            day >= MAX_MICROS && day - MAX_MICROS < MAX_MICROS / 1000,
            "{day}"
        );
        h.record(u64::MAX); // clamped, not a panic
        assert_eq!(h.len(), 2);
        assert_eq!(h.quantile(1.0), Some(day));
    }

    #[test]
    fn memory_is_fixed() {
        let mut h = Histogram::default();
        assert_eq!(
            h.0.distinct_values(),
            28_672,
            "the counters the module doc states"
        );
        (0..100_000).for_each(|i| h.record(i * 997));
        h.record(u64::MAX);
        assert_eq!(h.0.distinct_values(), 28_672);
    }

    #[test]
    fn merge_adds_and_empty_has_no_quantile() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        assert_eq!(a.quantile(0.5), None);
        assert_eq!(a.quantile_ms(0.99), None);
        assert!(a.is_empty());
        a.record(10);
        b.record(30);
        b.record(u64::MAX);
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(b.len(), 2, "the source is left as it was");
        assert_eq!(a.quantile(0.5), Some(30));
        assert_eq!(a.quantile_ms(0.1), Some(0.01));
        assert_eq!(
            a.quantile_ms(0.99),
            b.quantile_ms(1.0),
            "the clamped value, in ms"
        );
    }
}
