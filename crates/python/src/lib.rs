//! Python bindings of kexue: the native module `kexue._kexue`, re-exported by the pure-Python
//! package `kexue` (`python/kexue`), built with maturin (`pip install ./crates/python`).
//!
//! The bindings are thin, like the CLI: they convert numpy arrays and Python values into the
//! libraries' types, call one library function, and convert the result back. They hold no
//! numerical logic of their own.
//!
//! - [`diffusion`]: schedules, trajectories, Γ, sampling and NELBO around any Python callable
//!   `eps_fn(x_t, t)` (wrapped as a `diffusion::EpsPredictor`) or a kexue checkpoint. Every call
//!   into the `diffusion`/`diffusion-nn` libraries lives in that one file.
//! - [`cws`]: jieba-shaped segmentation (`cut`, `lcut`, `tokenize`, user dictionaries).
//! - [`probmap`]: probability maps over any axis of float arrays.
//! - [`series`]: `decide(expr, start)`, the fields of `kexue series --json`.
//!
//! Errors: the libraries' messages become `ValueError` (bad values) or `TypeError` (wrong
//! types); an exception raised by a Python callback propagates unchanged. The GIL is released
//! while Rust works and taken back only while Python code runs.
#![warn(missing_docs)]

mod arrays;
pub mod cws;
pub mod diffusion;
mod errors;
pub mod probmap;
pub mod series;

use pyo3::prelude::*;

/// The native module `kexue._kexue` with its four submodules.
#[pymodule]
fn _kexue(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    add_submodule(m, "diffusion", diffusion::register)?;
    add_submodule(m, "cws", cws::register)?;
    add_submodule(m, "probmap", probmap::register)?;
    add_submodule(m, "series", series::register)?;
    Ok(())
}

/// Creates `kexue._kexue.<name>`, fills it with `fill` and attaches it to `parent`.
fn add_submodule(
    parent: &Bound<'_, PyModule>,
    name: &str,
    fill: fn(&Bound<'_, PyModule>) -> PyResult<()>,
) -> PyResult<()> {
    let m = PyModule::new(parent.py(), name)?;
    fill(&m)?;
    parent.add_submodule(&m)
}
