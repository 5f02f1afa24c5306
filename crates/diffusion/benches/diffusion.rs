//! Benchmarks of the diffusion crate: sampling row-steps/s on the laboratory's GMM, with the
//! exact Gaussian predictor as the peer (same loop, cheaper ε*).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diffusion::EpsPredictor;
use diffusion::analytic::Gamma;
use diffusion::exact::{Gaussian, GaussianMixture};
use diffusion::{PlanConfig, Sampler, Schedule, Trajectory, plan, sample, standard_normal};
use rand::SeedableRng;
use std::hint::black_box;

fn bench_sampling(c: &mut Criterion) {
    let schedule = Schedule::linear(1000).unwrap();
    let traj = Trajectory::even(1000, 10).unwrap();
    let gmm = GaussianMixture::ring(8, 2.0, 0.1).unwrap();
    let steps = plan(
        &schedule,
        &traj,
        &PlanConfig::exact(Sampler::DdpmBeta),
        &Gamma::unknown(1000),
    )
    .unwrap();
    let gauss = Gaussian::isotropic(2, 0.0, 1.0).unwrap();
    let rows = 1000;
    let mut g = c.benchmark_group("sample/K10-1000rows-2d");
    g.throughput(Throughput::Elements((rows * steps.len()) as u64));
    let predictors: [(&str, &dyn EpsPredictor); 2] = [("gmm8-ring", &gmm), ("gaussian", &gauss)];
    for (name, pred) in predictors {
        g.bench_function(name, |b| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(0);
            let mut x = vec![0.0; rows * 2];
            b.iter(|| {
                standard_normal(&mut rng, &mut x);
                sample(pred, black_box(&steps), &mut x, &mut rng, &mut |_| {}).unwrap();
                black_box(x[0])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_sampling);
criterion_main!(benches);
