//! Prints the full report for each expression given as `EXPR@N0` arguments (development aid):
//! `cargo run --release -p series --example dump -- "1/(n*ln(n)^2)@2"`.
use std::io::Write;

fn main() {
    let mut out = std::io::stdout().lock();
    for arg in std::env::args().skip(1) {
        let (src, n0) = match arg.rsplit_once('@') {
            Some((s, n)) => (s.to_string(), n.parse().unwrap_or(1)),
            None => (arg.clone(), 1),
        };
        let written = match series::analyze(&src, n0) {
            Ok(r) => writeln!(
                out,
                "{src}\n  {} | {} | {}\n  {}\n  {}\n  warnings: {:?}",
                r.verdict, r.test, r.equivalent, r.asymptotics, r.justification, r.warnings
            ),
            Err(e) => writeln!(out, "{src}\n  error: {e}"),
        };
        if written.is_err() {
            break;
        }
    }
}
