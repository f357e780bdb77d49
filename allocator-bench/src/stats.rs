//! The statistics the tables print: medians, percentiles, ratios to the best.

/// Whether a smaller or a larger figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Times, latencies: smaller wins.
    Lower,
    /// Throughput, efficiency: larger wins.
    Higher,
}

/// The median of `values` (the mean of the two middle ones for an even
/// count); `None` for no values. NaNs sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The mean of `values`; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The `p`-th percentile (`0.0..=100.0`) of values already sorted ascending,
/// by the nearest-rank method: the smallest value with at least `p`% of the
/// values at or below it. `p = 100` is the maximum. `None` for no values.
pub fn percentile_sorted(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Each figure divided by the best one among the `eligible` ones (the bump
/// floor is not: it would make every allocator look slow against a
/// non-allocator), so the best shows `1.00` and the floor may show less.
///
/// For [`Better::Lower`] the ratio is `figure / best` (2.0: twice as slow);
/// for [`Better::Higher`] it is `best / figure` (2.0: half the throughput),
/// so in both cases 1.00 is the best and larger is worse. Missing figures,
/// and figures that make no ratio (zero or negative against a lower-better
/// best, zero for higher-better), stay `None`.
pub fn ratios_to_best(figures: &[Option<f64>], eligible: &[bool], better: Better) -> Vec<Option<f64>> {
    let valid = figures
        .iter()
        .zip(eligible.iter().chain(std::iter::repeat(&true)))
        .filter_map(|(f, ok)| f.filter(|_| *ok))
        .filter(|f| f.is_finite() && *f > 0.0);
    let best = match better {
        Better::Lower => valid.min_by(f64::total_cmp),
        Better::Higher => valid.max_by(f64::total_cmp),
    };
    figures
        .iter()
        .map(|figure| {
            let (figure, best) = (figure.filter(|f| f.is_finite() && *f > 0.0)?, best?);
            Some(match better {
                Better::Lower => figure / best,
                Better::Higher => best / figure,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.5]), Some(7.5));
        assert_eq!(median(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_sorted(&values, 50.0), Some(50));
        assert_eq!(percentile_sorted(&values, 99.0), Some(99));
        assert_eq!(percentile_sorted(&values, 100.0), Some(100));
        assert_eq!(percentile_sorted(&values, 0.0), Some(1));
        assert_eq!(percentile_sorted(&[5, 9], 50.0), Some(5));
        assert_eq!(percentile_sorted(&[5, 9], 51.0), Some(9));
        assert_eq!(percentile_sorted(&[42], 99.9), Some(42));
        assert_eq!(percentile_sorted(&[], 50.0), None);
    }

    #[test]
    fn ratios_name_the_best_one() {
        let times = [Some(2.0), None, Some(1.0), Some(4.0)];
        let all = [true; 4];
        assert_eq!(ratios_to_best(&times, &all, Better::Lower), [Some(2.0), None, Some(1.0), Some(4.0)]);
        let throughput = [Some(50.0), Some(100.0), Some(0.0)];
        assert_eq!(ratios_to_best(&throughput, &all, Better::Higher), [Some(2.0), Some(1.0), None]);
        assert_eq!(ratios_to_best(&[None, None], &all, Better::Lower), [None, None]);
        // The floor (not eligible) is no yardstick, but gets its ratio.
        let with_floor = [Some(2.0), Some(4.0), Some(0.5)];
        assert_eq!(
            ratios_to_best(&with_floor, &[true, true, false], Better::Lower),
            [Some(1.0), Some(2.0), Some(0.25)]
        );
    }
}
