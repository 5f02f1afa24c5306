//! The library path without the binary (issue 13): the crate-level example of `diffusion-nn`
//! (open models/digits, draw 16 samples with analytic-ddpm at K = 10, NELBO) run through the
//! public API, and checked to leave the shipped folder as it is.

use diffusion::{AnySampler, DrawSpec, PlanSettings, TrajectoryKind};
use diffusion_nn::pipeline::{self, EvalSpec};
use diffusion_nn::{Checkpoint, GammaPolicy};

#[test]
fn open_draw_and_nelbo_through_the_public_api() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/digits");
    let before = std::fs::read_dir(dir).unwrap().count();
    let ck = Checkpoint::open(dir).unwrap();
    let gamma = ck
        .gamma(&GammaPolicy::uncached(20, 0), &mut |_| {})
        .unwrap()
        .0;
    let sampler: AnySampler = "analytic-ddpm".parse().unwrap();
    let spec = DrawSpec {
        sampler,
        steps: 10,
        trajectory: TrajectoryKind::Even,
        n: 16,
        seed: 0,
        settings: PlanSettings::EXACT,
    };
    let draw =
        pipeline::draw_with_gamma(&ck, &spec, &gamma.to_gamma().unwrap(), &mut |_| {}).unwrap();
    assert_eq!(draw.x.len(), 16 * 64);
    // The checkpoint's own settings (x̂_0 clipped, mean-only last step) keep digits in range.
    assert!(
        draw.x.iter().all(|v| v.abs() <= 1.0 + 1e-9),
        "out of [−1, 1]"
    );
    let eval = EvalSpec {
        samplers: vec![sampler],
        ks: vec![10],
        limit: Some(50),
        ..EvalSpec::default()
    };
    let report = pipeline::nelbo_table(&ck, &gamma, &eval, &mut |_| {}).unwrap();
    // A finite bound of a few bits/dim (17 levels: at most log2 17 ≈ 4.1 for a uniform model
    // plus the Γ from only 20 rows; K = 5 gives 5.4 in the goldens).
    let bpd = report.rows[0].bpd;
    assert!(bpd > 0.5 && bpd < 8.0, "{bpd}");
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        before,
        "models/digits was written"
    );
}
