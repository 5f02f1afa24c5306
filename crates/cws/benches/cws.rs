//! Throughput of the three segmentation modes on the development set (chars/s).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cws::Segmenter;

const RAW: &str = include_str!("../../../data/cws-dev/raw.txt");

fn bench(c: &mut Criterion) {
    let dict = cws::builtin::dict().expect("shipped dictionary");
    let tagger = cws::builtin::tagger().expect("shipped model");
    let modes = [
        ("dict", Segmenter::dict(dict.clone())),
        ("neural", Segmenter::neural(tagger.clone())),
        (
            "hybrid",
            Segmenter::hybrid(tagger, dict, cws::builtin::HYBRID_LAMBDA).expect("valid λ"),
        ),
    ];
    let mut g = c.benchmark_group("segment");
    g.throughput(Throughput::Elements(RAW.chars().count() as u64));
    for (name, seg) in &modes {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut n = 0;
                for line in RAW.lines() {
                    n += seg.segment(black_box(line)).len();
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
