//! Library errors as Python exceptions: `ValueError` with the library's message for bad values,
//! `RuntimeError` for failures that are not the caller's input (I/O, a network that fails), and
//! the original exception when a Python callback raised it.

use pyo3::PyErr;
use pyo3::exceptions::{PyRuntimeError, PyValueError};

/// `ValueError(msg)`.
pub(crate) fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A `diffusion` error: the Python exception of a callback that raised, `ValueError` otherwise.
pub(crate) fn from_diffusion(e: diffusion::Error) -> PyErr {
    match e {
        diffusion::Error::Predictor(source) => match source.downcast::<PyErr>() {
            Ok(py_err) => *py_err,
            Err(other) => PyRuntimeError::new_err(format!("ε-predictor failed: {other}")),
        },
        e @ diffusion::Error::Invalid { .. } => PyValueError::new_err(e.to_string()),
    }
}

/// A `diffusion-nn` error: its `diffusion` errors as [`from_diffusion`], checkpoint and
/// configuration problems as `ValueError`, the rest (I/O, candle) as `RuntimeError`.
pub(crate) fn from_diffusion_nn(e: diffusion_nn::Error) -> PyErr {
    match e {
        diffusion_nn::Error::Diffusion(d) => from_diffusion(d),
        e @ (diffusion_nn::Error::Config { .. } | diffusion_nn::Error::Checkpoint { .. }) => {
            PyValueError::new_err(e.to_string())
        }
        e => PyRuntimeError::new_err(e.to_string()),
    }
}

/// A `cws` error: bad input as `ValueError`, I/O and model internals as `RuntimeError`.
pub(crate) fn from_cws(e: cws::Error) -> PyErr {
    match e {
        e @ (cws::Error::Candle(_) | cws::Error::NonFinite { .. }) => {
            PyRuntimeError::new_err(e.to_string())
        }
        cws::Error::Io(io) => PyErr::from(io),
        e => PyValueError::new_err(e.to_string()),
    }
}

/// A `probmap` error (always about the input): `ValueError`.
pub(crate) fn from_probmap(e: probmap::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A `series` error (malformed or undefined term): `ValueError`.
pub(crate) fn from_series(e: series::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}
