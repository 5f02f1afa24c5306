//! `kexue.series`: `decide(expr, start=1)`, the fields of `kexue series --json`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::from_series;

/// Fills `kexue._kexue.series`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decide, m)?)?;
    Ok(())
}

/// Decides whether Σ_{n ≥ start} a_n converges, with the deciding test and its reason.
///
/// Returns a dict with the fields of `kexue series EXPR --from START --json`: `verdict`
/// ("converges", "diverges" or "unknown"), `test`, `equivalent`, `justification`,
/// `asymptotics`, `expr`, `from`, `warnings`. Malformed or undefined terms raise `ValueError`.
#[pyfunction]
#[pyo3(signature = (expr, start = 1))]
fn decide<'py>(py: Python<'py>, expr: &str, start: u64) -> PyResult<Bound<'py, PyDict>> {
    let r = py
        .detach(|| series::analyze(expr, start))
        .map_err(from_series)?;
    // The field mapping of the CLI's `JsonReport` (crates/cli/src/cmd/series.rs).
    let d = PyDict::new(py);
    d.set_item("verdict", r.verdict.to_string())?;
    d.set_item("test", &r.test)?;
    d.set_item("equivalent", &r.equivalent)?;
    d.set_item("justification", &r.justification)?;
    d.set_item("asymptotics", &r.asymptotics)?;
    d.set_item("convergence", r.convergence.map(|c| c.to_string()))?;
    d.set_item("expr", expr)?;
    d.set_item("from", r.n0)?;
    d.set_item("warnings", PyList::new(py, &r.warnings)?)?;
    Ok(d)
}
