//! Latency histograms that merge exactly across load processes.
//!
//! Each load process reports its latencies as sparse millisecond buckets, so the launcher's
//! percentiles over several processes are the true percentiles of all samples, not an average of
//! each process's own.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counts of latencies by whole millisecond (rounded up, so a 0.2 ms commit counts as 1 ms).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// `(milliseconds, count)`, ascending; a list, not a map, so the JSON stays compact.
    pub buckets: Vec<(u64, u64)>,
}

/// The two percentiles every report carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

/// Accumulates samples; [`Recorder::finish`] gives the compact [`Histogram`].
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    counts: BTreeMap<u64, u64>,
}

impl Recorder {
    pub fn record_micros(&mut self, micros: u64) {
        *self.counts.entry(micros.div_ceil(1000).max(1)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for &(ms, n) in &other.buckets {
            let slot = self.counts.entry(ms).or_default();
            *slot = slot.saturating_add(n);
        }
    }

    pub fn finish(&self) -> Histogram {
        Histogram {
            buckets: self.counts.iter().map(|(&k, &v)| (k, v)).collect(),
        }
    }
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .map(|&(_, n)| n)
            .fold(0, u64::saturating_add)
    }

    /// The smallest latency (ms) at or below which at least `q` of the samples fall; 0 when
    /// there are none.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for &(ms, n) in &self.buckets {
            seen = seen.saturating_add(n);
            if seen >= rank {
                return ms as f64;
            }
        }
        self.buckets.last().map_or(0.0, |&(ms, _)| ms as f64)
    }

    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
        }
    }

    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a Histogram>) -> Histogram {
        let mut recorder = Recorder::default();
        for part in parts {
            recorder.merge(part);
        }
        recorder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut r = Recorder::default();
        for ms in 1..=100u64 {
            r.record_micros(ms * 1000);
        }
        let h = r.finish();
        assert_eq!(h.count(), 100);
        assert_eq!(
            h.percentiles(),
            Percentiles {
                p50: 50.0,
                p99: 99.0
            }
        );
        assert_eq!(Histogram::default().percentiles(), Percentiles::default());
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (
            Recorder::default(),
            Recorder::default(),
            Recorder::default(),
        );
        for i in 0..500u64 {
            let micros = (i * 7919) % 40_000;
            if i % 3 == 0 {
                a.record_micros(micros)
            } else {
                b.record_micros(micros)
            }
            all.record_micros(micros);
        }
        let merged = Histogram::merged([&a.finish(), &b.finish()]);
        assert_eq!(merged, all.finish());
        // Sub-millisecond samples round up to 1 ms, never to 0.
        let mut tiny = Recorder::default();
        tiny.record_micros(0);
        assert_eq!(tiny.finish().buckets, vec![(1, 1)]);
    }
}
