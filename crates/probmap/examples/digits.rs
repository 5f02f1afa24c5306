//! Train the same small classifier on the shipped UCI digits with softmax and with the
//! Gaussian-noise map as the output activation, and compare test accuracy and calibration.
//!
//! ```text
//! cargo run --release -p probmap --example digits [-- --steps 600 --scale 1 --data data/digits.csv]
//! ```
//!
//! Data: `data/digits.csv` (1797 rows: 64 pixels in 0..16, then the label). Split: row index
//! divisible by 5 → test (360 rows), the rest → train (1437 rows). Model: 64 → 32 (ReLU) → 10,
//! weights drawn from a seeded RNG, AdamW (lr 0.01) on seeded shuffled minibatches of 128 for
//! `--steps` steps (600 ≈ 53 epochs); the same initial weights and batches for both activations. Loss: −log p_label (for the noise map: log of the
//! clamped p, since the op returns probabilities). ECE: 15 equal-width confidence bins.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use probmap::{Family, Map, QuadConfig, candle_op::probmap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

struct Data {
    x: Tensor,
    y: Tensor,
    labels: Vec<u32>,
}

fn load(path: &str, dev: &Device) -> Result<(Data, Data)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let (mut xtr, mut ytr, mut xte, mut yte) = (vec![], vec![], vec![], vec![]);
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let vals: Vec<f32> = line
            .split(',')
            .map(|s| s.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("{path}: line {}", i + 1))?;
        if vals.len() != 65 {
            bail!(
                "{path}: line {} has {} fields, expected 65",
                i + 1,
                vals.len()
            );
        }
        let (x, y) = if i % 5 == 0 {
            (&mut xte, &mut yte)
        } else {
            (&mut xtr, &mut ytr)
        };
        x.extend(vals[..64].iter().map(|v| v / 16.0));
        y.push(vals[64] as u32);
    }
    let mk = |x: Vec<f32>, y: Vec<u32>| -> Result<Data> {
        let n = y.len();
        Ok(Data {
            x: Tensor::from_vec(x, (n, 64), dev)?,
            y: Tensor::from_vec(y.clone(), n, dev)?,
            labels: y,
        })
    };
    Ok((mk(xtr, ytr)?, mk(xte, yte)?))
}

#[derive(Clone, Copy)]
enum Head {
    Softmax,
    Noise,
}

struct Mlp {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
}

impl Mlp {
    fn new(seed: u64, dev: &Device) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut init = |rows: usize, cols: usize| -> Result<Var> {
            let bound = (6.0 / (rows + cols) as f32).sqrt();
            let v: Vec<f32> = (0..rows * cols)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            Ok(Var::from_tensor(&Tensor::from_vec(v, (rows, cols), dev)?)?)
        };
        Ok(Self {
            w1: init(64, 32)?,
            b1: Var::zeros(32, DType::F32, dev)?,
            w2: init(32, 10)?,
            b2: Var::zeros(10, DType::F32, dev)?,
        })
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let h = x.matmul(&self.w1)?.broadcast_add(&self.b1)?.relu()?;
        Ok(h.matmul(&self.w2)?.broadcast_add(&self.b2)?)
    }

    fn vars(&self) -> Vec<Var> {
        vec![
            self.w1.clone(),
            self.b1.clone(),
            self.w2.clone(),
            self.b2.clone(),
        ]
    }
}

fn probs(head: Head, logits: &Tensor, map: &Map) -> Result<Tensor> {
    Ok(match head {
        Head::Softmax => candle_nn::ops::softmax_last_dim(logits)?,
        Head::Noise => probmap(logits, map)?,
    })
}

fn loss(head: Head, logits: &Tensor, y: &Tensor, map: &Map) -> Result<Tensor> {
    Ok(match head {
        Head::Softmax => candle_nn::loss::cross_entropy(logits, y)?,
        Head::Noise => {
            let p = probmap(logits, map)?;
            let py = p.gather(&y.unsqueeze(1)?, 1)?.clamp(1e-30f32, 1f32)?;
            py.log()?.mean_all()?.neg()?
        }
    })
}

/// Minibatch size (the same shuffled batches for both heads).
const BATCH: usize = 128;

struct Report {
    accuracy: f64,
    nll: f64,
    ece: f64,
    seconds: f64,
}

/// Expected calibration error with 15 equal-width bins on the top-class confidence.
fn ece(p: &[Vec<f32>], labels: &[u32]) -> f64 {
    const BINS: usize = 15;
    let mut count = [0usize; BINS];
    let mut conf = [0f64; BINS];
    let mut hit = [0f64; BINS];
    for (row, &y) in p.iter().zip(labels) {
        let (arg, &c) = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("10 classes");
        let b = ((c as f64 * BINS as f64) as usize).min(BINS - 1);
        count[b] += 1;
        conf[b] += c as f64;
        hit[b] += f64::from(u8::from(arg as u32 == y));
    }
    let n = labels.len() as f64;
    (0..BINS)
        .filter(|&b| count[b] > 0)
        .map(|b| (hit[b] - conf[b]).abs() / n)
        .sum()
}

fn train(head: Head, train: &Data, test: &Data, map: &Map, steps: usize) -> Result<Report> {
    let dev = Device::Cpu;
    let model = Mlp::new(42, &dev)?;
    let mut opt = AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: 0.01,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let start = Instant::now();
    let n = train.labels.len();
    let mut rng = StdRng::seed_from_u64(7);
    let mut perm: Vec<u32> = (0..n as u32).collect();
    let mut pos = n;
    for _ in 0..steps {
        if pos + BATCH > n {
            perm.shuffle(&mut rng);
            pos = 0;
        }
        let idx = Tensor::from_slice(&perm[pos..pos + BATCH], BATCH, &dev)?;
        pos += BATCH;
        let (x, y) = (
            train.x.index_select(&idx, 0)?,
            train.y.index_select(&idx, 0)?,
        );
        let l = loss(head, &model.logits(&x)?, &y, map)?;
        opt.backward_step(&l)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let p: Vec<Vec<f32>> = probs(head, &model.logits(&test.x)?, map)?.to_vec2()?;
    let mut correct = 0usize;
    let mut nll = 0.0;
    for (row, &y) in p.iter().zip(&test.labels) {
        let arg = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .expect("10 classes");
        correct += usize::from(arg as u32 == y);
        nll -= (row[y as usize].max(1e-30) as f64).ln();
    }
    let n = test.labels.len() as f64;
    Ok(Report {
        accuracy: correct as f64 / n,
        nll: nll / n,
        ece: ece(&p, &test.labels),
        seconds,
    })
}

fn main() -> Result<()> {
    let mut steps = 600usize;
    let mut scale = 1.0f64;
    let mut path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits.csv").to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--steps" => steps = val()?.parse()?,
            "--scale" => scale = val()?.parse()?,
            "--data" => path = val()?,
            other => bail!("unknown argument {other} (use --steps N, --scale S, --data PATH)"),
        }
    }
    let dev = Device::Cpu;
    let (tr, te) = load(&path, &dev)?;
    // Training uses the cheaper quadrature (≈1e-7 absolute error, far below f32 noise in the
    // gradients); evaluation of the test set uses the same map.
    let map = Map::with_config(Family::Gauss, scale, QuadConfig::FAST)?;
    println!(
        "digits: {} train / {} test rows, MLP 64-32-10, {steps} AdamW steps of {BATCH} rows",
        tr.labels.len(),
        te.labels.len()
    );
    println!("| head | test accuracy | test NLL | ECE (15 bins) | train time |");
    println!("|---|---|---|---|---|");
    for (name, head) in [
        ("softmax".to_string(), Head::Softmax),
        (format!("gauss map (scale {scale})"), Head::Noise),
    ] {
        let r = train(head, &tr, &te, &map, steps)?;
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.1} s |",
            r.accuracy, r.nll, r.ece, r.seconds
        );
    }
    Ok(())
}
