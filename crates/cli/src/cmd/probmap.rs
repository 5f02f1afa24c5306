//! `kexue probmap`: evaluate p_i = P(argmax_j(mu_j + s·eps_j) = i) for one score vector.

use std::io::Write;

use anyhow::Context;
use probmap::{Family, Map};

/// Arguments of `kexue probmap`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
WHAT IT COMPUTES
  Add i.i.d. noise s*eps to the scores mu and take the argmax: p_i is the probability that
  class i wins. Gumbel noise gives exactly softmax(mu/s); other noises give other maps that are
  also >= 0, sum to 1, ignore mu + c and keep the order of mu. p is exact to about 1e-12
  (closed form for Gumbel, shared-node Gauss-Legendre quadrature otherwise); the error estimate
  is printed with it.

NOISE FAMILIES
  gumbel, gauss (normal), logistic, laplace, uniform (on [0,1]: a sparse map), exponential,
  student:NU (Student's t with NU > 0 degrees of freedom; or --noise student --nu NU).

EXAMPLES
  kexue probmap --noise gumbel --mu 1,2,3                 softmax
  kexue probmap --noise gauss --mu 1,2,3 --jacobian --json
  kexue probmap --noise uniform --scale 2 --mu 0,0.5,1.5
  kexue probmap --noise student:3 --mu 0,50 --samples 100000 --seed 7")]
pub struct Args {
    /// Noise family: gumbel, gauss, logistic, laplace, uniform, exponential, student:NU.
    #[arg(long, default_value = "gumbel")]
    pub noise: String,
    /// Degrees of freedom for --noise student (same as writing student:NU).
    #[arg(long, allow_negative_numbers = true)]
    pub nu: Option<f64>,
    /// Scale (temperature) s > 0 of the noise: p(mu; s) = p(mu/s; 1).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub scale: f64,
    /// Scores, comma separated, e.g. 1,2,3 (negative values allowed: --mu=-1,0,2).
    #[arg(long, allow_hyphen_values = true, required = true)]
    pub mu: String,
    /// Also print the Jacobian dp_i/dmu_k (row i).
    #[arg(long)]
    pub jacobian: bool,
    /// Also draw N perturb-and-argmax samples and print how often each class won.
    #[arg(long, value_name = "N")]
    pub samples: Option<u64>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also print the article's K-point quantile approximation with K points.
    #[arg(long, value_name = "K")]
    pub kpoint: Option<usize>,
    /// Print JSON: {"noise", "p", "jacobian"?, ...}.
    #[arg(long)]
    pub json: bool,
}

/// The JSON record, fields in the documented order.
#[derive(serde::Serialize)]
struct JsonReport {
    noise: String,
    p: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jacobian: Option<Vec<Vec<f64>>>,
    scale: f64,
    mu: Vec<f64>,
    /// Estimated bound on max_i |p_i − exact|.
    error: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kpoint: Option<Vec<f64>>,
}

fn parse_mu(text: &str) -> anyhow::Result<Vec<f64>> {
    let text = text.trim();
    if text.is_empty() {
        anyhow::bail!("--mu is empty: give scores like --mu 1,2,3");
    }
    text.split(',')
        .enumerate()
        .map(|(i, s)| {
            s.trim()
                .parse::<f64>()
                .with_context(|| format!("--mu entry {} is not a number: {:?}", i + 1, s.trim()))
        })
        .collect()
}

fn parse_family(noise: &str, nu: Option<f64>) -> anyhow::Result<Family> {
    let spec = match nu {
        Some(nu) if !noise.contains(':') => format!("{noise}:{nu}"),
        _ => noise.to_string(),
    };
    let family: Family = spec.parse()?;
    if nu.is_some() && !matches!(family, Family::StudentT(_)) {
        anyhow::bail!("--nu only applies to --noise student, not {family}");
    }
    Ok(family)
}

fn fmt_row(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{x:.12e}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Perturb-and-argmax counts; a progress bar on stderr when the work is long (> 2e7 noise draws).
fn sample_with_bar(map: &Map, mu: &[f64], n: u64, seed: u64) -> anyhow::Result<Vec<u64>> {
    if n.saturating_mul(mu.len() as u64) <= 20_000_000 {
        return Ok(map.sample_counts(mu, n, seed)?);
    }
    let bar = indicatif::ProgressBar::new(n);
    bar.set_style(
        indicatif::ProgressStyle::with_template("sampling {bar:40} {pos}/{len} draws ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let counts = map.sample_counts_with_progress(mu, n, seed, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    Ok(counts)
}

/// Runs `kexue probmap`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let family = parse_family(&args.noise, args.nu)?;
    let mu = parse_mu(&args.mu)?;
    let map = Map::new(family, args.scale)?;
    let ev = map.evaluate(&mu)?;
    let jacobian = if args.jacobian {
        Some(map.jacobian(&mu)?)
    } else {
        None
    };
    let counts = match args.samples {
        Some(n) => Some(sample_with_bar(&map, &mu, n, args.seed)?),
        None => None,
    };
    let kpoint = match args.kpoint {
        Some(k) => Some(map.kpoint(&mu, k)?),
        None => None,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = JsonReport {
            noise: family.to_string(),
            p: ev.p,
            jacobian,
            scale: args.scale,
            mu,
            error: ev.error,
            samples: args.samples,
            counts,
            seed: args.samples.map(|_| args.seed),
            kpoint,
        };
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(());
    }
    writeln!(out, "noise  {family} (scale {:?})", args.scale)?;
    writeln!(out, "p      {}", fmt_row(&ev.p))?;
    writeln!(
        out,
        "error  {:.1e} (estimated bound on max_i |p_i - exact|)",
        ev.error
    )?;
    if let Some(jac) = jacobian {
        writeln!(out, "jacobian (row i = dp_i/dmu)")?;
        for row in jac {
            writeln!(out, "  {}", fmt_row(&row))?;
        }
    }
    if let (Some(n), Some(counts)) = (args.samples, counts) {
        let freq: Vec<f64> = counts.iter().map(|&c| c as f64 / n.max(1) as f64).collect();
        writeln!(out, "samples {n} (seed {}): counts {:?}", args.seed, counts)?;
        writeln!(out, "freq   {}", fmt_row(&freq))?;
    }
    if let (Some(k), Some(kp)) = (args.kpoint, kpoint) {
        writeln!(out, "kpoint K={k}: {}", fmt_row(&kp))?;
    }
    Ok(())
}
