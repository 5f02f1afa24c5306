//! `kexue.probmap`: probability maps p_i = P(argmax_j(mu_j + τ ε_j) = i) over one axis of a
//! float array of any shape (every other axis is a batch of rows).

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods};
use probmap::{Family, Map};
use pyo3::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::arrays;
use crate::errors::{from_probmap, value_error};

/// Fills `kexue._kexue.probmap`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(probs, m)?)?;
    m.add_function(wrap_pyfunction!(jacobian, m)?)?;
    m.add_function(wrap_pyfunction!(vjp, m)?)?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add(
        "NOISES",
        vec![
            "gumbel",
            "gauss",
            "logistic",
            "laplace",
            "uniform",
            "exponential",
            "student:ν",
        ],
    )?;
    Ok(())
}

/// An array seen as rows along one axis: C-order values of `shape`, rows of length `n` at
/// `values[o·n·inner + j·inner + i]` for outer index o, position j and inner index i.
struct Rows {
    values: Vec<f64>,
    shape: Vec<usize>,
    axis: usize,
    outer: usize,
    n: usize,
    inner: usize,
}

impl Rows {
    fn new(a: arrays::Array, axis: isize, what: &str) -> PyResult<Self> {
        let nd = a.shape.len() as isize;
        if nd == 0 {
            return Err(value_error(format!(
                "{what} must have at least one dimension"
            )));
        }
        let ax = if axis < 0 { axis + nd } else { axis };
        if !(0..nd).contains(&ax) {
            return Err(value_error(format!(
                "axis {axis} is out of bounds for {what} of shape {}",
                arrays::shape_str(&a.shape)
            )));
        }
        let ax = ax as usize;
        let outer = a.shape[..ax].iter().product();
        let inner = a.shape[ax + 1..].iter().product();
        Ok(Self {
            n: a.shape[ax],
            values: a.values,
            shape: a.shape,
            axis: ax,
            outer,
            inner,
        })
    }

    fn count(&self) -> usize {
        self.outer * self.inner
    }

    /// Row r (r = o·inner + i) copied out.
    fn row(&self, r: usize, buf: &mut Vec<f64>) {
        let (o, i) = (r / self.inner, r % self.inner);
        buf.clear();
        buf.extend((0..self.n).map(|j| self.values[(o * self.n + j) * self.inner + i]));
    }

    /// Writes row r of an output laid out like `self`.
    fn put(&self, r: usize, row: &[f64], out: &mut [f64]) {
        let (o, i) = (r / self.inner, r % self.inner);
        for (j, &v) in row.iter().enumerate() {
            out[(o * self.n + j) * self.inner + i] = v;
        }
    }

    /// The shape without the row axis (the batch shape).
    fn batch_shape(&self) -> Vec<usize> {
        let mut s = self.shape.clone();
        s.remove(self.axis);
        s
    }
}

fn map(noise: &str, scale: f64) -> PyResult<Map> {
    let family: Family = noise.parse().map_err(from_probmap)?;
    Map::new(family, scale).map_err(from_probmap)
}

/// Applies `f` to every row along `axis` (GIL released) and returns an array shaped like `mu`.
fn rowwise<'py>(
    py: Python<'py>,
    rows: &Rows,
    f: impl Fn(usize, &[f64]) -> probmap::Result<Vec<f64>> + Send + Sync,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let out = py
        .detach(|| {
            let mut out = vec![0.0; rows.values.len()];
            let mut buf = Vec::with_capacity(rows.n);
            for r in 0..rows.count() {
                rows.row(r, &mut buf);
                let p = f(r, &buf)?;
                rows.put(r, &p, &mut out);
            }
            Ok::<_, probmap::Error>(out)
        })
        .map_err(from_probmap)?;
    arrays::write(py, out, &rows.shape)
}

/// The probability map of every row of `mu` along `axis` (same shape as `mu`, float64).
#[pyfunction]
#[pyo3(signature = (mu, noise = "gauss", scale = 1.0, axis = -1))]
fn probs<'py>(
    py: Python<'py>,
    mu: &Bound<'py, PyAny>,
    noise: &str,
    scale: f64,
    axis: isize,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let m = map(noise, scale)?;
    let rows = Rows::new(arrays::read(mu, "mu")?, axis, "mu")?;
    rowwise(py, &rows, |_, row| m.probs(row))
}

/// Jacobians ∂p_i/∂mu_k of every row: shape = batch shape + (n, n).
#[pyfunction]
#[pyo3(signature = (mu, noise = "gauss", scale = 1.0, axis = -1))]
fn jacobian<'py>(
    py: Python<'py>,
    mu: &Bound<'py, PyAny>,
    noise: &str,
    scale: f64,
    axis: isize,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let m = map(noise, scale)?;
    let rows = Rows::new(arrays::read(mu, "mu")?, axis, "mu")?;
    let n = rows.n;
    let out = py
        .detach(|| {
            let mut out = Vec::with_capacity(rows.count() * n * n);
            let mut buf = Vec::with_capacity(n);
            for r in 0..rows.count() {
                rows.row(r, &mut buf);
                for jrow in m.jacobian(&buf)? {
                    out.extend(jrow);
                }
            }
            Ok::<_, probmap::Error>(out)
        })
        .map_err(from_probmap)?;
    let mut shape = rows.batch_shape();
    shape.extend([n, n]);
    arrays::write(py, out, &shape)
}

/// vᵀJ of every row (J is symmetric, so also J v): same shape as `mu`.
#[pyfunction]
#[pyo3(signature = (mu, v, noise = "gauss", scale = 1.0, axis = -1))]
fn vjp<'py>(
    py: Python<'py>,
    mu: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    noise: &str,
    scale: f64,
    axis: isize,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let m = map(noise, scale)?;
    let rows = Rows::new(arrays::read(mu, "mu")?, axis, "mu")?;
    let v = arrays::read(v, "v")?;
    if v.shape != rows.shape {
        return Err(value_error(format!(
            "v has shape {} but mu has {}",
            arrays::shape_str(&v.shape),
            arrays::shape_str(&rows.shape)
        )));
    }
    let v = Rows::new(v, axis, "v")?;
    rowwise(py, &rows, |r, row| {
        let mut vr = Vec::with_capacity(v.n);
        v.row(r, &mut vr);
        m.vjp(row, &vr)
    })
}

/// `size` perturb-and-argmax draws per row (indices along `axis`): shape (size, *batch shape),
/// int64. One seeded RNG draws the rows in C order, draw by draw.
#[pyfunction]
#[pyo3(signature = (mu, noise = "gauss", size = 1, seed = 0, scale = 1.0, axis = -1))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn sample<'py>(
    py: Python<'py>,
    mu: &Bound<'py, PyAny>,
    noise: &str,
    size: usize,
    seed: u64,
    scale: f64,
    axis: isize,
) -> PyResult<Bound<'py, PyArrayDyn<i64>>> {
    let m = map(noise, scale)?;
    let rows = Rows::new(arrays::read(mu, "mu")?, axis, "mu")?;
    let out = py
        .detach(|| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut out = Vec::with_capacity(size * rows.count());
            let mut rows_buf: Vec<Vec<f64>> = Vec::with_capacity(rows.count());
            for r in 0..rows.count() {
                let mut buf = Vec::with_capacity(rows.n);
                rows.row(r, &mut buf);
                rows_buf.push(buf);
            }
            for _ in 0..size {
                for row in &rows_buf {
                    out.push(m.sample(row, &mut rng)? as i64);
                }
            }
            Ok::<_, probmap::Error>(out)
        })
        .map_err(from_probmap)?;
    let mut shape = vec![size];
    shape.extend(rows.batch_shape());
    PyArray1::from_vec(py, out).reshape(shape)
}
