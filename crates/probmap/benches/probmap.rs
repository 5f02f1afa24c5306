//! Rows per second of the Gaussian-noise map (exact, 1e-12) and of the article's K-point rule
//! (K = 64), next to softmax in the same run, for n = 10, 1000, 50000; plus the accuracy of the
//! K-point rule against the exact map for several K (printed once, before the timings).
//!
//! ```text
//! cargo bench -p probmap --bench probmap
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use probmap::{Family, KPoint, Map, closed};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn scores(n: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(n as u64);
    (0..n).map(|_| 6.0 * rng.random::<f64>()).collect()
}

/// Max |p_kpoint − p_exact| and |Σ p_kpoint − 1| for K = 8 … 4096 (Gaussian noise).
fn accuracy_table() {
    let map = Map::new(Family::Gauss, 1.0).expect("valid map");
    eprintln!("K-point rule vs exact (Gaussian noise), max_i |p_i - exact|, |sum - 1|:");
    eprintln!("| K | mu = (1,2,3) | sum−1 | n = 10 (bench vector) | sum−1 |");
    eprintln!("|---|---|---|---|---|");
    let cases = [vec![1.0, 2.0, 3.0], scores(10)];
    let exact: Vec<Vec<f64>> = cases
        .iter()
        .map(|m| map.probs(m).expect("finite"))
        .collect();
    for k in [8, 16, 64, 256, 1024, 4096] {
        let rule = KPoint::new(Family::Gauss, k).expect("k > 0");
        let mut row = format!("| {k} |");
        for (mu, ex) in cases.iter().zip(&exact) {
            let p = rule.probs(mu);
            let err = p
                .iter()
                .zip(ex)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            let sum: f64 = p.iter().sum();
            row.push_str(&format!(" {err:.2e} | {:.2e} |", (sum - 1.0).abs()));
        }
        eprintln!("{row}");
    }
}

fn bench(c: &mut Criterion) {
    accuracy_table();
    let exact = Map::new(Family::Gauss, 1.0).expect("valid map");
    for n in [10usize, 1000, 50_000] {
        let mu = scores(n);
        let mut group = c.benchmark_group(format!("probs/n={n}"));
        group.throughput(Throughput::Elements(1));
        if n >= 1000 {
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(if n > 1000 { 20 } else { 5 }));
        }
        group.bench_function(BenchmarkId::new("softmax", n), |b| {
            b.iter(|| closed::softmax(black_box(&mu)))
        });
        group.bench_function(BenchmarkId::new("gauss-exact", n), |b| {
            b.iter(|| exact.probs(black_box(&mu)).expect("finite"))
        });
        // O(n²K): 50000² · 64 evaluations per row would take minutes.
        if n <= 1000 {
            let rule = KPoint::new(Family::Gauss, 64).expect("k > 0");
            group.bench_function(BenchmarkId::new("gauss-kpoint64", n), |b| {
                b.iter(|| rule.probs(black_box(&mu)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
