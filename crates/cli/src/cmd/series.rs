//! `kexue series`: decide convergence of a positive series Σ_{n≥n0} a_n, with the reason.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `kexue series`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
INPUT LANGUAGE
  Variable n; integers, decimals and 1e-3 notation (all exact: 1.01 is 101/100); + - * / ^
  (right-associative, also **); unary minus; parentheses; postfix n! and n!! (double factorial); functions ln, log
  (natural), exp, sqrt, sin, cos, tan, arctan, sinh, cosh, tanh, abs; constants pi, e.
  No implicit multiplication: write 2*n.

OUTPUT
  The first line is the verdict: converges, diverges or unknown. Then the deciding test, the
  equivalent a_n ~ c*m found by the asymptotic expansion, and a justification whose steps are
  checkable limits and inequalities. \"unknown\" comes with its reason and is never a guess.
  Signed terms: eventually negative terms are decided through -a_n; (-1)^n b_n by the Leibniz
  test, sin/cos(a*n + b)*b_n by the Dirichlet test, with \"convergence: absolute\" or
  \"conditional\" (JSON field \"convergence\"). A term undefined at some n >= --from (a pole
  at n = 5000, say) is an error, found symbolically, not by sampling.

EXAMPLES
  kexue series \"1/(n*ln(n)^2)\" --from 2        converges (Bertrand test)
  kexue series \"n!/n^n\" --json                  converges (ratio test), as JSON
  kexue series --file cases.txt                 one case per line: EXPR or EXPR ; N0
  kexue series \"(-1)^n/n\"                       converges (Leibniz test), conditionally
  kexue series \"-ln(cos(1/n))\"                  a leading '-' belongs to the term
  kexue series \"1/n^p\" --param p                diverges for p <= 1, converges for p > 1
  kexue series \"x^n/n^2\" --param x --json       interval of convergence [-1, 1], as JSON
  kexue series \"1/(n^p*ln(n)^q)\" --from 2 --param p,q
                                                p > 1 converges, p < 1 diverges; at p = 1:
                                                q > 1 converges, q <= 1 diverges (Bertrand)
  kexue series \"1/(n*ln(n)^2)\" --from 2 --sum   value 2.109742801... with a proved enclosure
  kexue series \"(-1)^n/n\" --sum --digits 15     -ln 2 (alternating remainder, Euler transform)
  kexue series \"n!/n^n\" --sum --json            ratio-test tail; JSON field \"sum\"")]
pub struct Args {
    /// The term a_n, e.g. "1/(n*ln(n)^2)"; a leading '-' is part of the term ("-ln(cos(1/n))").
    #[arg(required_unless_present = "file", allow_hyphen_values = true)]
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
    /// Treat this identifier in the term as a real parameter and print the set of its values
    /// where the series converges, as intervals with the deciding test on each piece (e.g.
    /// `"1/n^p" --param p`, `"x^n/n^2" --param x`). Two parameters: `--param p,q` gives
    /// pieces in p, and pieces in q inside a p-piece whose verdict depends on q
    /// (`"1/(n^p*ln(n)^q)" --param p,q`); JSON nests them as {"param": "q", "pieces": [...]}.
    #[arg(long, value_name = "NAME[,NAME]", conflicts_with_all = ["file", "sum"])]
    pub param: Option<String>,
    /// Also print the value of a convergent series with a rigorous enclosure: a partial sum in
    /// interval arithmetic plus a proved tail enclosure from the integral test (exactly c/n^p,
    /// p > 1, or c/(n*ln(n)^q), q > 1), the ratio test (products of c^n, n^a, (an+b)!, n^n, ...),
    /// the alternating-series remainder ((-1)^n*b_n, b completely monotone), or comparison
    /// (a bounded oscillating factor times one of these). Without a proved tail bound: an
    /// error, never an unproved number.
    #[arg(long, conflicts_with = "file")]
    pub sum: bool,
    /// Significant digits wanted with --sum (at most 15). The enclosure says how many hold:
    /// fewer when the tail bound is honestly wider (then say so).
    #[arg(long, default_value_t = 10, requires = "sum", value_parser = clap::value_parser!(u32).range(1..=15))]
    pub digits: u32,
}

/// The JSON record, fields in the documented order.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    verdict: String,
    test: &'a str,
    equivalent: &'a str,
    justification: &'a str,
    asymptotics: &'a str,
    /// "absolute" or "conditional" for a convergent series; null otherwise.
    convergence: Option<String>,
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
        convergence: r.convergence.map(|c| c.to_string()),
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
    if let Some(name) = &args.param {
        return run_param(src, name, args.from, args.json);
    }
    let r = series::analyze(src, args.from).with_context(|| format!("cannot decide \"{src}\""))?;
    let value = args.sum.then(|| series::sum(src, args.from, args.digits));
    let sum_error = |e: &series::Error| {
        anyhow::anyhow!("cannot compute the value of \"{src}\" ({}): {e}", r.verdict)
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        // The report's fields in their documented order (a round trip through
        // `serde_json::Value` would sort them), then `sum` appended to the object.
        let report = report_json(src, &r, None, None)?;
        let open = report.strip_suffix('}').unwrap_or(&report);
        match &value {
            None => writeln!(out, "{report}")?,
            Some(Ok(s)) => {
                let sum = serde_json::json!({
                    "value": s.value,
                    "lo": s.lo,
                    "hi": s.hi,
                    "digits": s.digits,
                    "digits_requested": args.digits,
                    "terms": s.terms,
                    "test": s.test,
                    "tail": [s.tail.0, s.tail.1],
                    "method": s.method,
                });
                writeln!(out, "{open},\"sum\":{sum}}}")?;
            }
            Some(Err(e)) => {
                let why = serde_json::Value::String(e.to_string());
                writeln!(out, "{open},\"sum\":null,\"sum_error\":{why}}}")?;
                out.flush()?;
                return Err(sum_error(e));
            }
        }
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
        if let Some(c) = r.convergence {
            writeln!(out, "convergence: {c}")?;
        }
        writeln!(out, "equivalent: {}", r.equivalent)?;
        writeln!(out, "asymptotics: {}", r.asymptotics)?;
        writeln!(out, "justification: {}", r.justification)?;
    }
    for w in &r.warnings {
        writeln!(out, "warning: {w}")?;
    }
    match &value {
        Some(Ok(s)) => {
            let short = if s.digits < args.digits {
                format!(
                    " of {} requested: the tail bound allows no more",
                    args.digits
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "sum: {} ({} significant digits{short}; enclosure [{:.17e}, {:.17e}])",
                s.value, s.digits, s.lo, s.hi
            )?;
            writeln!(out, "sum tail test: {}", s.test)?;
            writeln!(out, "sum method: {}", s.method)?;
        }
        Some(Err(e)) => {
            out.flush()?;
            return Err(sum_error(e));
        }
        None => {}
    }
    Ok(())
}

fn piece_json(p: &series::param::Piece) -> serde_json::Value {
    let mut v = serde_json::json!({
        "interval": p.interval,
        "verdict": p.verdict_text(),
        "test": p.test,
        "convergence": p.convergence.map(|c| c.to_string()),
        "reason": p.reason,
    });
    if let Some(sub) = &p.sub {
        v["param"] = serde_json::Value::String(sub.param.clone());
        v["pieces"] = sub.pieces.iter().map(piece_json).collect();
    }
    v
}

fn write_pieces(
    out: &mut impl Write,
    r: &series::param::ParamReport,
    indent: usize,
) -> anyhow::Result<()> {
    let pad = " ".repeat(indent);
    for p in &r.pieces {
        let conv = p.convergence.map(|c| format!(" ({c})")).unwrap_or_default();
        if let Some(sub) = &p.sub {
            writeln!(
                out,
                "{pad}{} in {}: {}",
                r.param,
                p.interval,
                p.verdict_text()
            )?;
            write_pieces(out, sub, indent + 2)?;
            continue;
        }
        let why = if p.verdict == series::Verdict::Unknown {
            format!("reason: {}", p.reason)
        } else {
            format!("test: {}", p.test)
        };
        writeln!(
            out,
            "{pad}{} in {}: {}{conv}; {why}",
            r.param, p.interval, p.verdict
        )?;
    }
    Ok(())
}

/// `--param`: the pieces of the parameter line (or of the first of two parameters, with
/// pieces in the second where the verdict depends on it) with their verdicts.
fn run_param(src: &str, names: &str, n0: u64, json: bool) -> anyhow::Result<()> {
    let list: Vec<&str> = names.split(',').map(str::trim).collect();
    if list.iter().any(|n| n.is_empty()) || list.len() > 2 {
        anyhow::bail!(
            "--param takes one name or two separated by a comma (e.g. p or p,q), not '{names}'"
        );
    }
    let r = series::param::analyze_params(src, &list, n0)
        .with_context(|| format!("cannot decide \"{src}\" with the parameter(s) {names}"))?;
    let mut out = std::io::stdout().lock();
    if json {
        let pieces: Vec<serde_json::Value> = r.pieces.iter().map(piece_json).collect();
        let v = serde_json::json!({
            "expr": src,
            "from": n0,
            "param": r.param,
            "params": list,
            "pieces": pieces,
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(out, "{}", r.summary())?;
    write_pieces(&mut out, &r, 0)?;
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
