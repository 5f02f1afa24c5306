//! Criterion benchmark: time to decide each public case (parse + expansion + tests).
//! Goal: < 10 ms per case (BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn cases() -> Vec<(String, u64)> {
    include_str!("../tests/data/cases.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let parts: Vec<&str> = l.splitn(4, '|').map(str::trim).collect();
            Some((parts.get(3)?.to_string(), parts.get(2)?.parse().ok()?))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("decide/all_public_cases");
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.sample_size(20);
    g.bench_function("table", |b| {
        b.iter(|| {
            for (src, n0) in &cases {
                let _ = black_box(series::analyze(black_box(src), *n0));
            }
        })
    });
    g.finish();
    let mut g = c.benchmark_group("decide/single");
    for (name, src, n0) in [
        ("counterexample", "1/(n*ln(n)^2)", 2),
        ("cancellation", "e - (1 + 1/n)^n", 1),
        ("gauss", "((2*n)!/(4^n*n!^2))^2", 1),
    ] {
        g.bench_function(name, |b| b.iter(|| series::analyze(black_box(src), n0)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
