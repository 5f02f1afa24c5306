//! Criterion benches of the fused ops (forward and backward) against candle's composed ops.
use criterion::{Criterion, criterion_group, criterion_main};

fn benches(_c: &mut Criterion) {}

criterion_group!(group, benches);
criterion_main!(group);
