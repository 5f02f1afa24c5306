//! Sample-quality metrics for the laboratory.

/// Energy distance 2E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ between two samples of rows of `dim`
/// values (V-statistic form, O(n·m)); zero iff the laws agree, in the limit of large samples.
///
/// # Panics
/// If `dim` is 0 or a sample is empty or not a whole number of rows.
pub fn energy_distance(a: &[f64], b: &[f64], dim: usize) -> f64 {
    assert!(dim > 0 && !a.is_empty() && !b.is_empty());
    assert!(a.len().is_multiple_of(dim) && b.len().is_multiple_of(dim));
    2.0 * mean_pair_dist(a, b, dim) - mean_pair_dist(a, a, dim) - mean_pair_dist(b, b, dim)
}

fn mean_pair_dist(a: &[f64], b: &[f64], dim: usize) -> f64 {
    let mut s = 0.0;
    for ra in a.chunks(dim) {
        for rb in b.chunks(dim) {
            s += ra
                .iter()
                .zip(rb)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt();
        }
    }
    s / ((a.len() / dim) * (b.len() / dim)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_distance_of_point_masses() {
        // Two Diracs at distance r: 2r − 0 − 0.
        assert_eq!(energy_distance(&[0.0, 0.0], &[3.0, 4.0], 2), 10.0);
        assert_eq!(energy_distance(&[1.0, 2.0], &[1.0, 2.0], 1), 0.0);
        assert!(energy_distance(&[0.0, 1.0], &[5.0, 6.0], 1) > 0.0);
    }
}
