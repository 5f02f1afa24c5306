//! `kexue series`: decide convergence of a positive series Σ_{n≥n0} a_n, with the reason.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `kexue series`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
INPUT LANGUAGE
  Variable n; integers and decimals (exact: 1.01 is 101/100); + - * / ^ (right-associative,
  also **); unary minus; parentheses; postfix n! and n!! (double factorial); functions ln, log
  (natural), exp, sqrt, sin, cos, tan, arctan, sinh, cosh, tanh, abs; constants pi, e.
  No implicit multiplication: write 2*n.

OUTPUT
  The first line is the verdict: converges, diverges or unknown. Then the deciding test, the
  equivalent a_n ~ c*m found by the asymptotic expansion, and a justification whose steps are
  checkable limits and inequalities. \"unknown\" comes with its reason and is never a guess.

EXAMPLES
  kexue series \"1/(n*ln(n)^2)\" --from 2        converges (Bertrand test)
  kexue series \"n!/n^n\" --json                  converges (ratio test), as JSON
  kexue series --file cases.txt                 one case per line: EXPR or EXPR ; N0")]
pub struct Args {
    /// The term a_n, e.g. "1/(n*ln(n)^2)".
    #[arg(required_unless_present = "file")]
    pub expr: Option<String>,
    /// First index n0 of the sum (a_n must be defined for n >= n0).
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Print JSON: {"verdict", "test", "equivalent", "justification", ...}; with --file, one
    /// JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Decide every case of a file ('-' for stdin): one per line, `EXPR` or `EXPR ; N0`;
    /// blank lines and lines starting with '#' are skipped. Output: one line per case.
    #[arg(long, conflicts_with = "expr")]
    pub file: Option<PathBuf>,
}

/// The JSON record, fields in the documented order.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    verdict: String,
    test: &'a str,
    equivalent: &'a str,
    justification: &'a str,
    asymptotics: &'a str,
    expr: &'a str,
    from: u64,
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    /// Wall time of the decision in microseconds (file mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_us: Option<u128>,
}

fn report_json(
    src: &str,
    r: &series::Report,
    line: Option<usize>,
    elapsed_us: Option<u128>,
) -> anyhow::Result<String> {
    let j = JsonReport {
        verdict: r.verdict.to_string(),
        test: &r.test,
        equivalent: &r.equivalent,
        justification: &r.justification,
        asymptotics: &r.asymptotics,
        expr: src,
        from: r.n0,
        warnings: &r.warnings,
        line,
        elapsed_us,
    };
    Ok(serde_json::to_string(&j)?)
}

/// Runs `kexue series`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.file {
        return run_file(path, args.from, args.json);
    }
    let src = args.expr.as_deref().unwrap_or_default();
    let r = series::analyze(src, args.from).with_context(|| format!("cannot decide \"{src}\""))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report_json(src, &r, None, None)?)?;
        return Ok(());
    }
    writeln!(out, "{}", r.verdict)?;
    if r.verdict == series::Verdict::Unknown {
        writeln!(out, "reason: {}", r.justification)?;
        if !r.equivalent.is_empty() {
            writeln!(out, "equivalent: {}", r.equivalent)?;
        }
    } else {
        writeln!(out, "test: {}", r.test)?;
        writeln!(out, "equivalent: {}", r.equivalent)?;
        writeln!(out, "asymptotics: {}", r.asymptotics)?;
        writeln!(out, "justification: {}", r.justification)?;
    }
    for w in &r.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

/// Splits `EXPR ; N0` (the `; N0` part is optional).
fn split_case(line: &str, default_n0: u64) -> anyhow::Result<(String, u64)> {
    match line.rsplit_once(';') {
        Some((e, n)) => {
            let n0 = n
                .trim()
                .parse()
                .with_context(|| format!("bad n0 '{}'", n.trim()))?;
            Ok((e.trim().to_string(), n0))
        }
        None => Ok((line.trim().to_string(), default_n0)),
    }
}

fn run_file(path: &PathBuf, default_n0: u64, json: bool) -> anyhow::Result<()> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut out = std::io::stdout().lock();
    let (mut n_cases, mut n_errors) = (0usize, 0usize);
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        n_cases += 1;
        let start = std::time::Instant::now();
        let outcome = split_case(t, default_n0).and_then(|(src, n0)| {
            Ok((series::analyze(&src, n0).map_err(anyhow::Error::from)?, src))
        });
        let elapsed_us = start.elapsed().as_micros();
        match (outcome, json) {
            (Ok((r, src)), true) => {
                writeln!(
                    out,
                    "{}",
                    report_json(&src, &r, Some(i + 1), Some(elapsed_us))?
                )?;
            }
            (Ok((r, src)), false) => {
                writeln!(out, "{}\t{}\t{}\t{}", r.verdict, r.test, r.equivalent, src)?;
            }
            (Err(e), true) => {
                n_errors += 1;
                let v = serde_json::json!({"expr": t, "line": i + 1, "error": format!("{e:#}")});
                writeln!(out, "{v}")?;
            }
            (Err(e), false) => {
                n_errors += 1;
                writeln!(out, "error\t{e:#}\t\t{t}")?;
            }
        }
    }
    out.flush()?;
    if n_errors > 0 {
        anyhow::bail!(
            "{n_errors} of {n_cases} cases in {} could not be decided",
            path.display()
        );
    }
    Ok(())
}
