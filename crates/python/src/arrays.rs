//! numpy arrays in and out: float32/float64 arrays of any shape become flat f64 rows (C order),
//! results become float64 arrays. Wrong types are `TypeError`, non-finite values `ValueError`.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::errors::value_error;

/// A float array copied into f64 values in C order, with its shape.
pub(crate) struct Array {
    pub values: Vec<f64>,
    pub shape: Vec<usize>,
}

/// Copies a float32 or float64 numpy array (any shape, any strides) into f64 values.
///
/// # Errors
/// `TypeError` naming `what` when `obj` is not a numpy array of float32 or float64.
pub(crate) fn read(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Array> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        let r = a.readonly();
        let values = match r.as_slice() {
            Ok(s) => s.to_vec(),
            Err(_) => r.as_array().iter().copied().collect(),
        };
        return Ok(Array {
            values,
            shape: a.shape().to_vec(),
        });
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        let r = a.readonly();
        return Ok(Array {
            values: r.as_array().iter().map(|&v| v as f64).collect(),
            shape: a.shape().to_vec(),
        });
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a numpy array of float32 or float64, got {}",
        describe(obj)
    )))
}

/// Like [`read`], and every value must be finite.
///
/// # Errors
/// As [`read`]; `ValueError` naming the first non-finite entry.
pub(crate) fn read_finite(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Array> {
    let a = read(obj, what)?;
    check_finite(what, &a.values, &a.shape)?;
    Ok(a)
}

/// `ValueError` naming the first NaN/inf of `values` by its multi-index in `shape`.
pub(crate) fn check_finite(what: &str, values: &[f64], shape: &[usize]) -> PyResult<()> {
    if let Some(flat) = values.iter().position(|v| !v.is_finite()) {
        return Err(value_error(format!(
            "{what}{} = {} is not finite",
            index_of(flat, shape),
            values[flat]
        )));
    }
    Ok(())
}

/// `[i, j, …]` of the flat C-order index `flat` in `shape`.
fn index_of(mut flat: usize, shape: &[usize]) -> String {
    let mut idx = vec![0; shape.len()];
    for (slot, &n) in idx.iter_mut().zip(shape).rev() {
        if n > 0 {
            *slot = flat % n;
            flat /= n;
        }
    }
    let parts: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// A float64 array of `shape` holding `values` (C order).
pub(crate) fn write<'py>(
    py: Python<'py>,
    values: Vec<f64>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    PyArray1::from_vec(py, values).reshape(shape.to_vec())
}

/// `(a, b, c)` as Python prints a shape.
pub(crate) fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|n| n.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// "a numpy array of int64" / "list" for error messages.
pub(crate) fn describe(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(a) = obj.cast::<numpy::PyUntypedArray>() {
        return match a.dtype().str() {
            Ok(s) => format!("a numpy array of {s}"),
            Err(_) => "a numpy array".into(),
        };
    }
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an object".into())
}
