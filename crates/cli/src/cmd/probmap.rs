//! `kexue probmap`: evaluate p_i = P(argmax_j(mu_j + s·eps_j) = i) for score vectors given on
//! the command line, in a file or on stdin (one vector per line).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use probmap::{Family, KPoint, Map};

/// Default of `--max-error`: p is refused when its estimated error exceeds this.
const DEFAULT_MAX_ERROR: &str = "1e-9";
/// Most scores in one vector (each costs a few f64 of scratch per quadrature pass).
const MAX_SCORES: usize = 50_000_000;
/// Most noise draws (`--samples` × n) one vector may ask for: about 2e7 draws/s on one core
/// of the (loaded) 2-core dev VM, so about 8 minutes.
const MAX_DRAWS: u128 = 10_000_000_000;
/// Most work K·n² the K-point rule may ask for (a few minutes).
const MAX_KPOINT_WORK: u128 = 20_000_000_000;
/// Draws (× n) above which sampling shows a progress bar with ETA.
const BAR_DRAWS: u128 = 20_000_000;

/// Arguments of `kexue probmap`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
WHAT IT COMPUTES
  Add i.i.d. noise s*eps to the scores mu and take the argmax: p_i is the probability that
  class i wins. Gumbel noise gives exactly softmax(mu/s); other noises give other maps that are
  also >= 0, sum to 1, ignore mu + c and keep the order of mu. p is computed to about 1e-12
  (closed form for Gumbel, shared-node Gauss-Legendre quadrature otherwise) and printed with an
  estimated bound on its error; when that bound exceeds --max-error (default 1e-9) the command
  fails instead of printing an inaccurate p.

INPUT
  --mu 1,2,3         one vector on the command line (negative values: --mu=-1,0,2)
  --mu-file PATH     one vector per line (entries separated by commas or by spaces; blank lines
                     and lines starting with # are skipped); PATH - or --mu - reads stdin.
                     Use it for vectors longer than the OS argument limit, or for batches:
                     each vector gets its own result, labelled with its line number
                     (\"line\" in JSON, one JSON object per output line).
  At most 50,000,000 scores per vector.

OUTPUT
  Text by default; --json prints one object per vector with the fields
  noise, p, jacobian (with --jacobian), scale, mu, error, nodes, samples, counts, seed
  (with --samples), kpoint (with --kpoint), line (with --mu-file or --mu -).

LIMITS
  --samples N draws N x n noise values: at most 1e10 (minutes), with a progress bar and ETA
  on a terminal beyond 2e7; Ctrl-C stops it. --kpoint K costs K x n^2: at most 2e10.
  --jacobian: n <= 4096.

NOISE FAMILIES
  gumbel, gauss (normal), logistic, laplace, uniform (on [0,1]: a sparse map), exponential,
  student:NU (Student's t with NU > 0 degrees of freedom; or --noise student --nu NU, not both).
  Student-t is accurate from NU = 0.001 (tails beyond f64) to NU = 1e6; far beyond (1e10) its
  cdf loses digits and p is refused by --max-error: use gauss, its limit.

EXAMPLES
  kexue probmap --noise gumbel --mu 1,2,3                 softmax
  kexue probmap --noise gauss --mu 1,2,3 --jacobian --json
  kexue probmap --noise uniform --scale 2 --mu=-2,0,1.5
  kexue probmap --noise student:3 --mu 0,50 --samples 100000 --seed 7
  kexue probmap --noise student:0.01 --mu-file scores.txt --json > p.jsonl
  seq -s, 1 100000 | kexue probmap --noise gauss --mu - --json")]
pub struct Args {
    /// Noise family: gumbel, gauss, logistic, laplace, uniform, exponential, student:NU.
    #[arg(long, default_value = "gumbel")]
    pub noise: String,
    /// Degrees of freedom for --noise student (same as writing student:NU; give one of them).
    #[arg(long, allow_negative_numbers = true)]
    pub nu: Option<f64>,
    /// Scale (temperature) s > 0 of the noise: p(mu; s) = p(mu/s; 1).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub scale: f64,
    /// Scores, comma separated, e.g. 1,2,3 (negative values allowed: --mu=-1,0,2); `-` reads
    /// vectors from stdin, one per line (as --mu-file -).
    #[arg(
        long,
        value_name = "LIST",
        allow_hyphen_values = true,
        required_unless_present = "mu_file",
        conflicts_with = "mu_file"
    )]
    pub mu: Option<String>,
    /// Read score vectors from PATH (`-`: stdin), one per line; each gets its own result.
    #[arg(long, value_name = "PATH")]
    pub mu_file: Option<PathBuf>,
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
    /// Fail (exit 2) rather than print p when its estimated error exceeds TOL.
    #[arg(long, value_name = "TOL", default_value = DEFAULT_MAX_ERROR)]
    pub max_error: f64,
    /// Print JSON: {"noise", "p", "jacobian"?, ...}, one object per vector and line.
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
    /// Quadrature nodes used (0 for closed forms).
    nodes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kpoint: Option<Vec<f64>>,
    /// Line of the input file the vector came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
}

/// Parses one vector: entries separated by commas, or by white space when there is no comma.
fn parse_mu(text: &str, what: &str) -> anyhow::Result<Vec<f64>> {
    let text = text.trim();
    if text.is_empty() {
        anyhow::bail!("{what} is empty: give scores like 1,2,3");
    }
    let parse = |(i, s): (usize, &str)| {
        if i >= MAX_SCORES {
            anyhow::bail!("{what} has more than {MAX_SCORES} scores");
        }
        let s = s.trim();
        let x = s
            .parse::<f64>()
            .with_context(|| format!("{what}: entry {} is not a number: {s:?}", i + 1))?;
        if !x.is_finite() {
            anyhow::bail!(
                "{what}: entry {} is {s:?}, not a finite number (|x| < 1.8e308)",
                i + 1
            );
        }
        Ok(x)
    };
    if text.contains(',') {
        text.split(',').enumerate().map(parse).collect()
    } else {
        text.split_whitespace().enumerate().map(parse).collect()
    }
}

fn parse_family(noise: &str, nu: Option<f64>) -> anyhow::Result<Family> {
    if let (Some(nu), Some((_, given))) = (nu, noise.split_once([':', '='])) {
        anyhow::bail!(
            "ν is given twice: --noise {noise} and --nu {nu}; write either --noise student:{} \
             or --noise student --nu {nu}",
            given.trim()
        );
    }
    let spec = match nu {
        Some(nu) => format!("{noise}:{nu}"),
        None => noise.to_string(),
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

/// Perturb-and-argmax counts; a progress bar with ETA on stderr when the work is long.
fn sample_with_bar(map: &Map, mu: &[f64], n: u64, seed: u64) -> anyhow::Result<Vec<u64>> {
    if u128::from(n) * mu.len() as u128 <= BAR_DRAWS {
        return Ok(map.sample_counts(mu, n, seed)?);
    }
    let bar = indicatif::ProgressBar::new(n);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "sampling {bar:40} {human_pos}/{human_len} draws, {per_sec}, ETA {eta} (Ctrl-C stops)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let counts = map.sample_counts_with_progress(mu, n, seed, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    Ok(counts)
}

/// Rejects work that cannot finish in reasonable time, before any of it is done.
fn check_sizes(args: &Args, n: usize) -> anyhow::Result<()> {
    if let Some(samples) = args.samples {
        let draws = u128::from(samples) * n as u128;
        if draws > MAX_DRAWS {
            anyhow::bail!(
                "--samples {samples} with {n} scores needs {draws:.3e} noise draws, more than the \
                 {MAX_DRAWS:.0e} allowed (several minutes); use at most --samples {}",
                MAX_DRAWS / n as u128
            );
        }
    }
    if let Some(k) = args.kpoint {
        let work = k as u128 * (n as u128) * (n as u128);
        if k > KPoint::MAX_K || work > MAX_KPOINT_WORK {
            anyhow::bail!(
                "--kpoint {k} with {n} scores costs K·n² = {work:.3e}, more than the \
                 {MAX_KPOINT_WORK:.0e} allowed (and K ≤ {}); the exact p needs no --kpoint",
                KPoint::MAX_K
            );
        }
    }
    if args.jacobian && n > Map::MAX_JACOBIAN {
        anyhow::bail!(
            "--jacobian for {n} scores: the full matrix is limited to n ≤ {}",
            Map::MAX_JACOBIAN
        );
    }
    Ok(())
}

/// Evaluates one vector and prints its result.
fn report(
    out: &mut impl Write,
    args: &Args,
    map: &Map,
    mu: Vec<f64>,
    line: Option<usize>,
) -> anyhow::Result<()> {
    check_sizes(args, mu.len())?;
    let ev = map
        .evaluate_within(&mu, args.max_error)
        .map_err(|e| match e {
            probmap::Error::Inaccurate { .. } => {
                anyhow::anyhow!("{e} (--max-error; nothing printed rather than an inexact p)")
            }
            e => e.into(),
        })?;
    let jacobian = if args.jacobian {
        Some(map.jacobian(&mu)?)
    } else {
        None
    };
    let counts = match args.samples {
        Some(n) => Some(sample_with_bar(map, &mu, n, args.seed)?),
        None => None,
    };
    let kpoint = match args.kpoint {
        Some(k) => Some(map.kpoint(&mu, k)?),
        None => None,
    };
    let family = map.family();
    if args.json {
        let report = JsonReport {
            noise: family.to_string(),
            p: ev.p,
            jacobian,
            scale: args.scale,
            mu,
            error: ev.error,
            nodes: ev.nodes,
            samples: args.samples,
            counts,
            seed: args.samples.map(|_| args.seed),
            kpoint,
            line,
        };
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    if let Some(line) = line {
        writeln!(out, "line   {line} ({} scores)", mu.len())?;
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

/// One vector per line of `input`; blank lines and `#` comments are skipped.
fn batch(
    out: &mut impl Write,
    args: &Args,
    map: &Map,
    mut input: impl BufRead,
    name: &str,
) -> anyhow::Result<()> {
    let mut text = String::new();
    let mut number = 0;
    let mut seen = 0;
    loop {
        text.clear();
        let read = input
            .read_line(&mut text)
            .with_context(|| format!("reading {name}"))?;
        if read == 0 {
            break;
        }
        number += 1;
        let body = text.trim();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        seen += 1;
        let what = format!("{name} line {number}");
        let mu = parse_mu(body, &what)?;
        report(out, args, map, mu, Some(number)).with_context(|| what.clone())?;
        if !args.json {
            writeln!(out)?;
        }
    }
    if seen == 0 {
        anyhow::bail!("{name} holds no score vector (one per line, e.g. 1,2,3)");
    }
    Ok(())
}

/// Runs `kexue probmap`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let family = parse_family(&args.noise, args.nu)?;
    if args.max_error.is_nan() || args.max_error <= 0.0 {
        anyhow::bail!("--max-error must be positive, got {}", args.max_error);
    }
    let map = Map::new(family, args.scale)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let stdin_name = "stdin";
    match (&args.mu, &args.mu_file) {
        (Some(text), _) if text.trim() == "-" => {
            let stdin = std::io::stdin().lock();
            batch(&mut out, &args, &map, stdin, stdin_name)?;
        }
        (Some(text), _) => {
            let mu = parse_mu(text, "--mu")?;
            report(&mut out, &args, &map, mu, None)?;
        }
        (None, Some(path)) if path.as_os_str() == "-" => {
            let stdin = std::io::stdin().lock();
            batch(&mut out, &args, &map, stdin, stdin_name)?;
        }
        (None, Some(path)) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("--mu-file {}", path.display()))?;
            let name = path.display().to_string();
            batch(&mut out, &args, &map, std::io::BufReader::new(file), &name)?;
        }
        (None, None) => anyhow::bail!("give the scores with --mu 1,2,3 or --mu-file PATH"),
    }
    out.flush()?;
    Ok(())
}
