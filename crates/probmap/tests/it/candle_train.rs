//! The candle op trains: a linear classifier on 400 shipped digits rows with the
//! Gaussian-noise map as output activation (fast smoke version of `examples/digits.rs`).

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use probmap::{Family, Map, QuadConfig, candle_op::probmap};

#[test]
fn gaussian_map_head_trains_on_digits() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/digits.csv"
    ))?;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for line in text.lines().take(400) {
        let v: Vec<f32> = line
            .split(',')
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?;
        xs.extend(v[..64].iter().map(|p| p / 16.0));
        ys.push(v[64] as u32);
    }
    let dev = Device::Cpu;
    let x = Tensor::from_vec(xs, (400, 64), &dev)?;
    let y = Tensor::from_vec(ys.clone(), 400, &dev)?;
    let w = Var::zeros((64, 10), DType::F32, &dev)?;
    let b = Var::zeros(10, DType::F32, &dev)?;
    let map = Map::with_config(Family::Gauss, 1.0, QuadConfig::FAST)?;
    let mut opt = AdamW::new(
        vec![w.clone(), b.clone()],
        ParamsAdamW {
            lr: 0.05,
            ..Default::default()
        },
    )?;
    let loss_of = |x: &Tensor| -> anyhow::Result<(Tensor, Tensor)> {
        let p = probmap(&x.matmul(&w)?.broadcast_add(&b)?, &map)?;
        let py = p.gather(&y.unsqueeze(1)?, 1)?.clamp(1e-30f32, 1f32)?;
        Ok((py.log()?.mean_all()?.neg()?, p))
    };
    let (first, _) = loss_of(&x)?;
    let first: f32 = first.to_scalar()?;
    // all-zero logits: p = 1/10 for every class, loss = ln 10
    assert!((first - 10f32.ln()).abs() < 1e-5, "{first}");
    for _ in 0..40 {
        let (l, _) = loss_of(&x)?;
        opt.backward_step(&l)?;
    }
    let (last, p) = loss_of(&x)?;
    let last: f32 = last.to_scalar()?;
    let pred: Vec<u32> = p.argmax(1)?.to_vec1()?;
    let acc = pred.iter().zip(&ys).filter(|(a, b)| a == b).count() as f64 / 400.0;
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    assert!(acc > 0.9, "train accuracy {acc}");
    Ok(())
}
