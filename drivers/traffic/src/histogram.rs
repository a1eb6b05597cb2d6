//! A latency histogram in microseconds with fixed memory and under 1% relative error, so a
//! long run at a high rate keeps no per-request samples.
//!
//! Values below 128 µs have a bucket each; above, every power of two is split into 128 equal
//! buckets (HDR-histogram style). Percentiles are nearest-rank and report the bucket's midpoint.

/// Sub-buckets per power of two (2^7: bucket width / value < 1/128).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values are clamped to about 71 minutes (2^32 µs), far above any request timeout.
const MAX_VALUE: u64 = (1 << 32) - 1;
const BUCKETS: usize = ((32 - SUB_BITS as usize) + 1) * SUB as usize;

/// Counts of latencies, mergeable.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn index(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = exp - SUB_BITS;
    ((shift as u64 + 1) * SUB + ((v >> shift) - SUB)) as usize
}

/// The smallest value in bucket `i` and the bucket's width.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let shift = i / SUB - 1;
    let low = (SUB + i % SUB) << shift;
    (low, 1 << shift)
}

impl Histogram {
    /// Records one latency in microseconds.
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The `q` quantile (0 < q <= 1) in microseconds, nearest rank; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bounds(i);
                return Some(if width == 1 {
                    low as f64
                } else {
                    low as f64 + (width as f64 - 1.0) / 2.0
                });
            }
        }
        None
    }

    /// The `q` quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.quantile(q).map(|us| us / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_round_trip() {
        let mut next = 0;
        for i in 0..BUCKETS {
            let (low, width) = bounds(i);
            assert_eq!(low, next, "bucket {i}");
            assert_eq!(index(low), i);
            assert_eq!(index(low + width - 1), i);
            next = low + width;
        }
        assert_eq!(next, MAX_VALUE + 1);
    }

    #[test]
    fn small_values_are_exact_and_large_within_one_percent() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(50.0));
        assert_eq!(h.quantile(0.99), Some(99.0));
        assert_eq!(h.quantile(1.0), Some(100.0));

        // A skewed spread, checked against the exact nearest-rank answer.
        let mut values: Vec<u64> = (0..10_000u64).map(|i| 200 + i * i % 3_000_000).collect();
        let mut h = Histogram::default();
        values.iter().for_each(|v| h.record(*v));
        values.sort_unstable();
        for q in [0.01, 0.5, 0.9, 0.99, 0.999] {
            let exact = values[((q * values.len() as f64).ceil() as usize).max(1) - 1] as f64;
            let got = h.quantile(q).unwrap();
            assert!((got - exact).abs() / exact < 0.01, "q{q}: {got} vs {exact}");
        }
    }

    #[test]
    fn merge_adds_and_empty_has_no_quantile() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        assert_eq!(a.quantile(0.5), None);
        a.record(10);
        b.record(30);
        b.record(u64::MAX); // clamped, not a panic
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.quantile(0.5), Some(30.0));
        assert_eq!(a.quantile_ms(0.1), Some(0.01));
    }
}
