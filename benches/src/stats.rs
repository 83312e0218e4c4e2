//! Order statistics over run times and the ratios the checks compare.

use serde::Serialize;

/// What a set of samples comes to. Times are in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The smallest sample.
    pub min: f64,
    /// The 50th percentile.
    pub median: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The largest sample.
    pub max: f64,
    /// The arithmetic mean.
    pub mean: f64,
}

/// Summarises `samples`, or `None` when there are none (or any is NaN).
///
/// ```
/// let s = pwbench::stats::summarize(&[3.0, 1.0, 2.0]).unwrap();
/// assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
/// ```
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        n: sorted.len(),
        min: sorted[0],
        median: percentile(&sorted, 50.0)?,
        p90: percentile(&sorted, 90.0)?,
        max: sorted[sorted.len() - 1],
        mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
    })
}

/// The `p`th percentile (0–100) of ascending `sorted`, interpolating linearly between the two
/// nearest ranks (numpy's default, R's type 7), so the median of an even count is the mean of
/// the middle two. `None` for an empty slice or a `p` outside 0–100.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let weight = rank - below as f64;
    Some(sorted[below] + (sorted[above] - sorted[below]) * weight)
}

/// `candidate / peer`, or `None` when the peer's figure is zero (nothing to compare against).
pub fn ratio(candidate: f64, peer: f64) -> Option<f64> {
    (peer > 0.0).then(|| candidate / peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_count_is_the_middle_sample() {
        assert_eq!(summarize(&[5.0, 1.0, 3.0]).unwrap().median, 3.0);
    }

    #[test]
    fn median_of_even_count_is_mean_of_middle_two() {
        assert_eq!(summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
    }

    #[test]
    fn p90_interpolates_between_ranks() {
        // 1..=10: rank 0.9 * 9 = 8.1 -> 9 + 0.1 * (10 - 9).
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        let p90 = summarize(&samples).unwrap().p90;
        assert!((p90 - 9.1).abs() < 1e-9, "{p90}");
    }

    #[test]
    fn single_sample_is_every_percentile() {
        let s = summarize(&[7.0]).unwrap();
        assert_eq!(
            (s.min, s.median, s.p90, s.max, s.mean),
            (7.0, 7.0, 7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn extremes_are_min_and_max() {
        let sorted = [1.0, 2.0, 3.0];
        assert_eq!(percentile(&sorted, 0.0), Some(1.0));
        assert_eq!(percentile(&sorted, 100.0), Some(3.0));
    }

    #[test]
    fn order_of_samples_does_not_matter() {
        let a = summarize(&[9.0, 2.0, 7.0, 4.0, 1.0]).unwrap();
        let b = summarize(&[1.0, 2.0, 4.0, 7.0, 9.0]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.mean, 4.6);
    }

    #[test]
    fn empty_or_nan_has_no_summary() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[1.0, f64::NAN]), None);
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], 101.0), None);
    }

    #[test]
    fn ratio_against_zero_is_none() {
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
    }
}
