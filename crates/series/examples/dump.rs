//! Prints the full report for each expression given as `EXPR@N0` arguments (development aid).
fn main() {
    for arg in std::env::args().skip(1) {
        let (src, n0) = match arg.rsplit_once('@') {
            Some((s, n)) => (s.to_string(), n.parse().unwrap_or(1)),
            None => (arg.clone(), 1),
        };
        match series::analyze(&src, n0) {
            Ok(r) => println!(
                "{src}\n  {} | {} | {}\n  {}\n  warnings: {:?}",
                r.verdict, r.test, r.equivalent, r.justification, r.warnings
            ),
            Err(e) => println!("{src}\n  error: {e}"),
        }
    }
}
