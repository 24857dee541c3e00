//! Robust summaries of wall-clock samples: median and minimum, never the mean (one stall on a
//! shared two-core machine would move a mean by more than the effect being measured).

use std::time::Duration;

/// Median and minimum of a set of samples.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub median: Duration,
    pub min: Duration,
}

impl Summary {
    /// Summarises `samples` (any order); `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let min = *sorted.first()?;
        let upper = *sorted.get(n / 2)?;
        let median = if n.is_multiple_of(2) {
            // Even count: the mean of the two middle samples.
            let lower = *sorted.get(n / 2 - 1)?;
            (lower + upper) / 2
        } else {
            upper
        };
        Some(Self { median, min })
    }
}

/// Milliseconds with two decimals, the unit of every latency column.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// MiB per second for `bytes` processed in `d`.
pub fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    let secs = d.as_secs_f64();
    if secs > 0.0 {
        bytes as f64 / (1024.0 * 1024.0) / secs
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let d = Duration::from_millis;
        let odd = Summary::of(&[d(5), d(1), d(3)]).unwrap();
        assert_eq!((odd.median, odd.min), (d(3), d(1)));
        let even = Summary::of(&[d(4), d(1), d(2), d(100)]).unwrap();
        assert_eq!((even.median, even.min), (d(3), d(1)));
        assert!(Summary::of(&[]).is_none());
    }
}
