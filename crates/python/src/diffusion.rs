//! `kexue.diffusion`: schedules, trajectories, Γ, sampling and NELBO around any Python callable
//! `eps_fn(x_t, t) -> ε̂` or a kexue checkpoint.
//!
//! Every call into the `diffusion` and `diffusion-nn` libraries is in this file, behind the small
//! `core_*` helpers at the end, so that a change of the libraries' entry points touches only them.
//!
//! # The callback crossing
//! A Python `eps_fn` becomes a `diffusion::EpsPredictor` ([`PyEps`]). The sampling loop, Γ
//! estimator and NELBO run in Rust with the GIL released; each predictor call takes the GIL,
//! copies the state rows into a float64 array of shape `(rows, *row_shape)` with
//! `t` a float64 array of shape `(rows,)` (the model time on the discrete scale, 1..N), calls
//! `eps_fn` on at most `batch` rows at a time, checks the result (a float32/float64 array of the
//! same shape, finite) and copies it back. An exception raised by `eps_fn` stops the run and is
//! re-raised unchanged.

use std::path::PathBuf;

use diffusion::analytic::{DataRange, Gamma as CoreGamma};
use diffusion::optimal::Guard;
use diffusion::sde::Sde;
use diffusion::solvers::{ContinuousSampler, SolverConfig};
use diffusion::{
    Decoder, EpsPredictor, FinalStep, NoiseLevel, PlanConfig, Sampler, Schedule as CoreSchedule,
    Trajectory as CoreTrajectory, X0Clip,
};
use diffusion_nn::checkpoint::{self, CheckpointMeta, Weights};
use diffusion_nn::data::DataShape;
use diffusion_nn::pipeline::{self, Purpose};
use diffusion_nn::{Model as NetModel, NetPredictor};
use numpy::PyArrayDyn;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::arrays::{self, shape_str};
use crate::errors::{from_diffusion, from_diffusion_nn, value_error};

/// Fills `kexue._kexue.diffusion`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Schedule>()?;
    m.add_class::<Trajectory>()?;
    m.add_class::<Gamma>()?;
    m.add_class::<OptimalTrajectory>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(estimate_gamma, m)?)?;
    m.add_function(wrap_pyfunction!(optimal_trajectory, m)?)?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(nelbo, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add(
        "DISCRETE_SAMPLERS",
        vec![
            "ddpm-beta",
            "ddpm-tilde",
            "analytic-ddpm",
            "ddim",
            "analytic-ddim",
        ],
    )?;
    m.add(
        "CONTINUOUS_SAMPLERS",
        ContinuousSampler::ALL
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Value classes

/// A noise schedule β_1..β_N (arrays of length N+1, index 0 = data, ᾱ_0 = 1).
#[pyclass(module = "kexue.diffusion", frozen)]
#[derive(Clone)]
pub struct Schedule {
    inner: CoreSchedule,
}

#[pymethods]
impl Schedule {
    /// Ho et al.'s linear schedule (β from 1e-4·1000/N to 0.02·1000/N), or
    /// β_{1..N} = linspace(beta_start, beta_end, N) when both ends are given.
    #[staticmethod]
    #[pyo3(signature = (n_steps = 1000, beta_start = None, beta_end = None))]
    fn linear(n_steps: usize, beta_start: Option<f64>, beta_end: Option<f64>) -> PyResult<Self> {
        let inner = match (beta_start, beta_end) {
            (None, None) => core_linear(n_steps, None),
            (Some(a), Some(b)) => core_linear(n_steps, Some((a, b))),
            _ => return Err(value_error("give both beta_start and beta_end, or neither")),
        }?;
        Ok(Self { inner })
    }

    /// The Nichol–Dhariwal cosine schedule (s = 0.008, β capped at 0.999).
    #[staticmethod]
    #[pyo3(signature = (n_steps = 1000))]
    fn cosine(n_steps: usize) -> PyResult<Self> {
        Ok(Self {
            inner: core_cosine(n_steps)?,
        })
    }

    /// A schedule from β_1..β_N (a 1-D array of length N, as diffusers' `betas`).
    #[staticmethod]
    fn from_betas(betas: &Bound<'_, PyAny>) -> PyResult<Self> {
        let a = one_dim(betas, "betas")?;
        Ok(Self {
            inner: core_from_step_betas(&a)?,
        })
    }

    /// A schedule from ᾱ_1..ᾱ_N (a 1-D array of length N, as diffusers' `alphas_cumprod`).
    #[staticmethod]
    fn from_alphas_cumprod(alphas_cumprod: &Bound<'_, PyAny>) -> PyResult<Self> {
        let a = one_dim(alphas_cumprod, "alphas_cumprod")?;
        Ok(Self {
            inner: core_from_alpha_bar(&a)?,
        })
    }

    /// N, the number of diffusion steps.
    #[getter]
    fn n_steps(&self) -> usize {
        self.inner.n_steps()
    }

    /// β_0..β_N (β_0 = 0), length N+1.
    #[getter]
    fn betas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let v = self.inner.betas().to_vec();
        let n = v.len();
        arrays::write(py, v, &[n])
    }

    /// ᾱ_0..ᾱ_N (ᾱ_0 = 1), length N+1.
    #[getter]
    fn alpha_bar<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let n = self.inner.n_steps();
        let v: Vec<f64> = (0..=n).map(|i| self.inner.alpha_bar(i)).collect();
        arrays::write(py, v, &[n + 1])
    }

    /// β̄_0..β̄_N = 1 − ᾱ (computed without cancellation), length N+1.
    #[getter]
    fn beta_bar<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let n = self.inner.n_steps();
        let v: Vec<f64> = (0..=n).map(|i| self.inner.beta_bar(i)).collect();
        arrays::write(py, v, &[n + 1])
    }

    /// ᾱ_1..ᾱ_N, length N (diffusers' `alphas_cumprod`).
    #[getter]
    fn alphas_cumprod<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let n = self.inner.n_steps();
        let v: Vec<f64> = (1..=n).map(|i| self.inner.alpha_bar(i)).collect();
        arrays::write(py, v, &[n])
    }

    fn __repr__(&self) -> String {
        format!("Schedule(n_steps={})", self.inner.n_steps())
    }
}

/// A sampling trajectory 1 ≤ τ_1 < … < τ_K ≤ N.
#[pyclass(module = "kexue.diffusion", frozen)]
#[derive(Clone)]
pub struct Trajectory {
    inner: CoreTrajectory,
}

#[pymethods]
impl Trajectory {
    /// A trajectory from its nodes τ_1 < … < τ_K in 1..=n_steps.
    #[new]
    fn new(n_steps: usize, steps: Vec<usize>) -> PyResult<Self> {
        Ok(Self {
            inner: CoreTrajectory::from_steps(n_steps, steps).map_err(from_diffusion)?,
        })
    }

    /// Analytic-DPM's even trajectory (τ_1 = 1, τ_K = N).
    #[staticmethod]
    fn even(n_steps: usize, k: usize) -> PyResult<Self> {
        named_trajectory("even", n_steps, k).map(|inner| Self { inner })
    }

    /// DDIM's quadratic trajectory.
    #[staticmethod]
    fn quadratic(n_steps: usize, k: usize) -> PyResult<Self> {
        named_trajectory("quad", n_steps, k).map(|inner| Self { inner })
    }

    /// DDIM's uniform stride (τ_k = 1 + (k−1)·⌊N/K⌋).
    #[staticmethod]
    fn uniform(n_steps: usize, k: usize) -> PyResult<Self> {
        named_trajectory("uniform", n_steps, k).map(|inner| Self { inner })
    }

    /// τ_1..τ_K.
    #[getter]
    fn steps(&self) -> Vec<usize> {
        self.inner.steps().to_vec()
    }

    /// N of the schedule the trajectory was built for.
    #[getter]
    fn n_steps(&self) -> usize {
        self.inner.n_steps()
    }

    /// The reverse steps (s, t) in sampling order, the last one (0, τ_1).
    fn pairs(&self) -> Vec<(usize, usize)> {
        self.inner.pairs()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Trajectory(n_steps={}, steps={:?})",
            self.inner.n_steps(),
            self.inner.steps()
        )
    }
}

/// Γ_n = E‖ε̂(x_n)‖²/d of Analytic-DPM at some or all times n = 1..N.
#[pyclass(module = "kexue.diffusion", frozen)]
#[derive(Clone)]
pub struct Gamma {
    inner: CoreGamma,
}

#[pymethods]
impl Gamma {
    /// Γ from an array of length N+1: `values[n]` = Γ_n, NaN where unknown (index 0 is ignored).
    #[new]
    fn new(values: &Bound<'_, PyAny>) -> PyResult<Self> {
        let v = one_dim(values, "values")?;
        if v.is_empty() {
            return Err(value_error("values needs N+1 ≥ 2 entries, got 0"));
        }
        let n = v.len() - 1;
        let pairs = v
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, g)| !g.is_nan())
            .map(|(i, &g)| (i, g));
        Ok(Self {
            inner: CoreGamma::from_pairs(n, pairs).map_err(from_diffusion)?,
        })
    }

    /// Γ_n = f(ᾱ_n) for every n from a closed form `f(alpha_bar: float) -> float`.
    #[staticmethod]
    fn from_fn(schedule: &Schedule, f: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = schedule.inner.n_steps();
        let mut pairs = Vec::with_capacity(n);
        for t in 1..=n {
            let g: f64 = f.call1((schedule.inner.alpha_bar(t),))?.extract()?;
            pairs.push((t, g));
        }
        Ok(Self {
            inner: CoreGamma::from_pairs(n, pairs).map_err(from_diffusion)?,
        })
    }

    /// Γ_0..Γ_N as an array (NaN where unknown, index 0 always NaN).
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let n = self.inner.n_steps();
        let v: Vec<f64> = (0..=n)
            .map(|i| {
                if i == 0 {
                    f64::NAN
                } else {
                    self.inner.get(i).unwrap_or(f64::NAN)
                }
            })
            .collect();
        arrays::write(py, v, &[n + 1])
    }

    /// N.
    #[getter]
    fn n_steps(&self) -> usize {
        self.inner.n_steps()
    }

    /// Γ_n, or None when unknown.
    fn get(&self, n: usize) -> Option<f64> {
        self.inner.get(n)
    }

    fn __repr__(&self) -> String {
        let known = (1..=self.inner.n_steps())
            .filter(|&i| self.inner.get(i).is_some())
            .count();
        format!("Gamma(n_steps={}, known={known})", self.inner.n_steps())
    }
}

/// The optimal trajectory of Analytic-DPM (`optimal_trajectory`); usable as `trajectory=`.
#[pyclass(module = "kexue.diffusion", frozen)]
pub struct OptimalTrajectory {
    trajectory: CoreTrajectory,
    cost: f64,
    guard: Option<Guard>,
}

#[pymethods]
impl OptimalTrajectory {
    /// The trajectory (a `Trajectory`).
    #[getter]
    fn trajectory(&self) -> Trajectory {
        Trajectory {
            inner: self.trajectory.clone(),
        }
    }

    /// τ_1..τ_K.
    #[getter]
    fn steps(&self) -> Vec<usize> {
        self.trajectory.steps().to_vec()
    }

    /// The DP's least Σ J over the searched nodes (all nodes unless `guard` is set).
    #[getter]
    fn cost(&self) -> f64 {
        self.cost
    }

    /// The `dp_seg` split when some Γ_n > 1 or unknown (a dict), else None.
    #[getter]
    fn guard<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(g) = self.guard else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("first_bad", g.first_bad)?;
        d.set_item("n_bad", g.n_bad)?;
        d.set_item("n_searched", g.n_searched)?;
        d.set_item("k_searched", g.k_searched)?;
        d.set_item("k_tail", g.k_tail)?;
        Ok(Some(d))
    }

    fn __repr__(&self) -> String {
        format!(
            "OptimalTrajectory(steps={:?}, cost={})",
            self.trajectory.steps(),
            self.cost
        )
    }
}

/// A trained kexue checkpoint (`kexue.diffusion.load`). Callable as `model(x_t, t)` and usable
/// as `eps_fn` everywhere; inside `sample`/`nelbo`/`estimate_gamma` it runs without Python.
#[pyclass(module = "kexue.diffusion", frozen)]
pub struct Model {
    meta: CheckpointMeta,
    model: NetModel,
    schedule: CoreSchedule,
    dir: PathBuf,
}

#[pymethods]
impl Model {
    /// ε̂(x_t, t): `x_t` of shape (rows, *shape), `t` a float or an array of shape (rows,).
    #[pyo3(signature = (x_t, t))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        x_t: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let x = arrays::read_finite(x_t, "x_t")?;
        let d = self.model.config().dim();
        let rows = check_rows_shape(&x.shape, &self.row_shape(), "x_t")?;
        let times: Vec<f64> = match t.extract::<f64>() {
            Ok(v) => vec![v; rows],
            Err(_) => {
                let ta = arrays::read_finite(t, "t")?;
                if ta.shape != [rows] {
                    return Err(value_error(format!(
                        "t has shape {} but x_t has {rows} rows",
                        shape_str(&ta.shape)
                    )));
                }
                ta.values
            }
        };
        let mut eps = vec![0.0; x.values.len()];
        let predictor = core_net_predictor(&self.model);
        py.detach(|| {
            // One predictor call per run of equal times (the network takes one level per call).
            let mut start = 0;
            while start < rows {
                let mut end = start + 1;
                while end < rows && times[end] == times[start] {
                    end += 1;
                }
                let level = NoiseLevel {
                    t: times[start],
                    alpha_bar: f64::NAN,
                };
                predictor.predict_eps(
                    &x.values[start * d..end * d],
                    level,
                    &mut eps[start * d..end * d],
                )?;
                start = end;
            }
            Ok::<(), diffusion::Error>(())
        })
        .map_err(from_diffusion)?;
        arrays::write(py, eps, &x.shape)
    }

    /// Shape of one sample, e.g. (2,) or (1, 8, 8).
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.row_shape()
    }

    /// Values per sample.
    #[getter]
    fn dim(&self) -> usize {
        self.model.config().dim()
    }

    /// The schedule the network was trained with.
    #[getter]
    fn schedule(&self) -> Schedule {
        Schedule {
            inner: self.schedule.clone(),
        }
    }

    /// Training steps done.
    #[getter]
    fn step(&self) -> u64 {
        self.meta.step
    }

    /// Discrete data levels L (None for continuous data).
    #[getter]
    fn levels(&self) -> Option<u32> {
        self.meta.data.levels
    }

    /// The Γ cached beside the checkpoint by `kexue diffusion gamma`, or None.
    #[getter]
    fn gamma(&self) -> PyResult<Option<Gamma>> {
        Ok(core_cached_gamma(&self.dir, &self.meta)?.map(|inner| Gamma { inner }))
    }

    fn __repr__(&self) -> String {
        format!(
            "Model({}, step={}, shape={})",
            self.dir.display(),
            self.meta.step,
            shape_str(&self.row_shape())
        )
    }
}

impl Model {
    fn row_shape(&self) -> Vec<usize> {
        match self.meta.data.shape {
            DataShape::Vector { dim } => vec![dim],
            DataShape::Image {
                channels,
                height,
                width,
            } => vec![channels, height, width],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ε-predictors

/// A Python callable as an ε-predictor (see the module docs for the crossing).
struct PyEps {
    f: Py<PyAny>,
    row_shape: Vec<usize>,
    dim: usize,
    batch: usize,
}

impl PyEps {
    fn call(&self, py: Python<'_>, x_t: &[f64], t: f64, eps: &mut [f64]) -> PyResult<()> {
        py.check_signals()?;
        let f = self.f.bind(py);
        for (x, out) in x_t
            .chunks(self.batch * self.dim)
            .zip(eps.chunks_mut(self.batch * self.dim))
        {
            let rows = x.len() / self.dim;
            let mut shape = Vec::with_capacity(self.row_shape.len() + 1);
            shape.push(rows);
            shape.extend_from_slice(&self.row_shape);
            let xa = arrays::write(py, x.to_vec(), &shape)?;
            let ta = arrays::write(py, vec![t; rows], &[rows])?;
            let ret = f.call1((xa, ta))?;
            let got = arrays::read(&ret, "the value returned by eps_fn")
                .map_err(|e| PyTypeError::new_err(format!("{} (at t = {t})", e.value(py))))?;
            if got.shape != shape {
                return Err(value_error(format!(
                    "eps_fn returned an array of shape {} for x_t of shape {} at t = {t}; \
                     ε̂ must have the shape of x_t",
                    shape_str(&got.shape),
                    shape_str(&shape)
                )));
            }
            arrays::check_finite("eps_fn(x_t, t)", &got.values, &got.shape)
                .map_err(|e| value_error(format!("{} (at t = {t})", e.value(py))))?;
            out.copy_from_slice(&got.values);
        }
        Ok(())
    }
}

impl EpsPredictor for PyEps {
    fn dim(&self) -> usize {
        self.dim
    }

    fn predict_eps(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        eps: &mut [f64],
    ) -> diffusion::Result<()> {
        Python::attach(|py| self.call(py, x_t, level.t, eps))
            .map_err(|e| diffusion::Error::Predictor(Box::new(e)))
    }
}

/// What an `eps_fn` argument is: a kexue checkpoint (runs in Rust) or a Python callable.
enum EpsSource {
    Net(Py<Model>),
    Python(Py<PyAny>),
}

impl EpsSource {
    fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(m) = obj.cast::<Model>() {
            return Ok(Self::Net(m.clone().unbind()));
        }
        if obj.is_callable() {
            return Ok(Self::Python(obj.clone().unbind()));
        }
        Err(PyTypeError::new_err(format!(
            "eps_fn must be a callable eps_fn(x_t, t) -> ndarray or a kexue.diffusion.Model, got {}",
            arrays::describe(obj)
        )))
    }

    fn model(&self) -> Option<&Model> {
        match self {
            Self::Net(m) => Some(m.get()),
            Self::Python(_) => None,
        }
    }

    /// The predictor for rows of `row_shape`, calling Python on at most `batch` rows.
    fn predictor(
        &self,
        py: Python<'_>,
        row_shape: &[usize],
        batch: usize,
    ) -> PyResult<Predictor<'_>> {
        if batch == 0 {
            return Err(value_error("batch must be ≥ 1"));
        }
        let dim: usize = row_shape.iter().product();
        if dim == 0 {
            return Err(value_error(format!(
                "a sample of shape {} has no values",
                shape_str(row_shape)
            )));
        }
        Ok(match self {
            Self::Net(m) => {
                let m = m.get();
                if m.row_shape() != row_shape {
                    return Err(value_error(format!(
                        "the checkpoint's samples have shape {}, got {}",
                        shape_str(&m.row_shape()),
                        shape_str(row_shape)
                    )));
                }
                Predictor::Net(core_net_predictor(&m.model))
            }
            Self::Python(f) => Predictor::Python(PyEps {
                f: f.clone_ref(py),
                row_shape: row_shape.to_vec(),
                dim,
                batch,
            }),
        })
    }
}

/// The predictor a run uses.
enum Predictor<'a> {
    Net(NetPredictor<'a>),
    Python(PyEps),
}

impl EpsPredictor for Predictor<'_> {
    fn dim(&self) -> usize {
        match self {
            Self::Net(p) => p.dim(),
            Self::Python(p) => p.dim(),
        }
    }

    fn predict_eps(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        eps: &mut [f64],
    ) -> diffusion::Result<()> {
        match self {
            Self::Net(p) => p.predict_eps(x_t, level, eps),
            Self::Python(p) => p.predict_eps(x_t, level, eps),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Functions

/// Monte-Carlo Γ_n = mean ‖eps_fn(x_n)‖²/d over the rows of `data` (paper-A Eq. 8), one fresh
/// ε per row and time, for `times` (default every n = 1..N).
#[pyfunction]
#[pyo3(signature = (eps_fn, data, schedule, m = None, batch = 256, times = None, seed = 0))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn estimate_gamma(
    py: Python<'_>,
    eps_fn: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
    schedule: &Schedule,
    m: Option<usize>,
    batch: usize,
    times: Option<Vec<usize>>,
    seed: u64,
) -> PyResult<Gamma> {
    let data = arrays::read_finite(data, "data")?;
    let (mut rows, row_shape) = split_rows(&data, "data")?;
    let dim: usize = row_shape.iter().product();
    let mut values = data.values;
    if let Some(m) = m {
        if m == 0 || m > rows {
            return Err(value_error(format!(
                "m = {m} must be in 1..={rows} (the rows of data)"
            )));
        }
        rows = m;
        values.truncate(m * dim);
    }
    debug_assert_eq!(values.len(), rows * dim);
    let times = times.unwrap_or_else(|| (1..=schedule.inner.n_steps()).collect());
    let source = EpsSource::new(eps_fn)?;
    let predictor = source.predictor(py, &row_shape, batch)?;
    let inner = py
        .detach(|| core_estimate_gamma(&predictor, &schedule.inner, &values, &times, batch, seed))
        .map_err(from_diffusion)?;
    Ok(Gamma { inner })
}

/// The K-node trajectory minimising Analytic-DDPM's KL (dynamic programming over Γ).
#[pyfunction]
fn optimal_trajectory(
    py: Python<'_>,
    schedule: &Schedule,
    gamma: &Gamma,
    k: usize,
) -> PyResult<OptimalTrajectory> {
    let opt = py
        .detach(|| diffusion::optimal_trajectory(&schedule.inner, &gamma.inner, k))
        .map_err(from_diffusion)?;
    Ok(OptimalTrajectory {
        trajectory: opt.trajectory,
        cost: opt.cost,
        guard: opt.guard,
    })
}

/// Draws samples of `shape` = (n, *sample_shape) with a discrete or continuous sampler.
#[pyfunction]
#[pyo3(signature = (
    eps_fn, shape, schedule, sampler = "analytic-ddpm", steps = 10, gamma = None,
    trajectory = None, seed = 0, batch = 256, eta = 0.0, x_init = None, clip_x0 = None,
    final_step = "sample"
))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn sample<'py>(
    py: Python<'py>,
    eps_fn: &Bound<'py, PyAny>,
    shape: Vec<usize>,
    schedule: &Schedule,
    sampler: &str,
    steps: usize,
    gamma: Option<&Bound<'py, PyAny>>,
    trajectory: Option<&Bound<'py, PyAny>>,
    seed: u64,
    batch: usize,
    eta: f64,
    x_init: Option<&Bound<'py, PyAny>>,
    clip_x0: Option<(f64, f64)>,
    final_step: &str,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let Some((&n, row_shape)) = shape.split_first() else {
        return Err(value_error("shape must be (n, *sample_shape), got ()"));
    };
    if n == 0 {
        return Err(value_error(
            "shape must ask for at least one sample, got n = 0",
        ));
    }
    let source = EpsSource::new(eps_fn)?;
    let predictor = source.predictor(py, row_shape, batch)?;
    let start = match x_init {
        Some(obj) => {
            let a = arrays::read_finite(obj, "x_init")?;
            if a.shape != shape {
                return Err(value_error(format!(
                    "x_init has shape {}, expected {}",
                    shape_str(&a.shape),
                    shape_str(&shape)
                )));
            }
            Some(a.values)
        }
        None => None,
    };
    let x = match parse_sampler(sampler, eta)? {
        AnySampler::Discrete(s) => {
            let config = plan_config(&source, s, clip_x0, final_step, Purpose::Sampling)?;
            let traj = trajectory_arg(trajectory, &schedule.inner, steps)?;
            let gamma = gamma_arg(gamma, &source, &schedule.inner)?;
            let plan = core_plan(&schedule.inner, &traj, &config, &gamma)?;
            py.detach(|| core_sample(&predictor, &plan, n, start, seed))
        }
        AnySampler::Continuous(c) => {
            if trajectory.is_some() || gamma.is_some() || clip_x0.is_some() {
                return Err(value_error(format!(
                    "`{sampler}` is a continuous sampler: trajectory, gamma and clip_x0 apply to \
                     the discrete samplers only"
                )));
            }
            py.detach(|| {
                core_sample_continuous(&predictor, &schedule.inner, c, steps, n, start, seed)
            })
        }
    }
    .map_err(from_diffusion)?;
    arrays::write(py, x, &shape)
}

/// The NELBO (nats/dim) of a discrete sampler's reverse process on `data`, as a dict.
#[pyfunction]
#[pyo3(signature = (
    eps_fn, data, schedule, sampler = "analytic-ddpm", steps = 10, gamma = None,
    trajectory = None, seed = 0, batch = 256, eta = 0.0, decoder_variance = None, levels = None,
    clip_x0 = None
))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn nelbo<'py>(
    py: Python<'py>,
    eps_fn: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    schedule: &Schedule,
    sampler: &str,
    steps: usize,
    gamma: Option<&Bound<'py, PyAny>>,
    trajectory: Option<&Bound<'py, PyAny>>,
    seed: u64,
    batch: usize,
    eta: f64,
    decoder_variance: Option<f64>,
    levels: Option<usize>,
    clip_x0: Option<(f64, f64)>,
) -> PyResult<Bound<'py, PyDict>> {
    let data = arrays::read_finite(data, "data")?;
    let (_, row_shape) = split_rows(&data, "data")?;
    let AnySampler::Discrete(s) = parse_sampler(sampler, eta)? else {
        return Err(value_error(format!(
            "the NELBO is defined for the discrete samplers, not `{sampler}`"
        )));
    };
    let source = EpsSource::new(eps_fn)?;
    let predictor = source.predictor(py, &row_shape, batch)?;
    let config = plan_config(&source, s, clip_x0, "sample", Purpose::Likelihood)?;
    let traj = trajectory_arg(trajectory, &schedule.inner, steps)?;
    let gamma = gamma_arg(gamma, &source, &schedule.inner)?;
    let plan = core_plan(&schedule.inner, &traj, &config, &gamma)?;
    let levels = levels.or(source
        .model()
        .and_then(|m| m.meta.data.levels.map(|l| l as usize)));
    let decoder = core_decoder(&schedule.inner, decoder_variance, levels)?;
    let report = py
        .detach(|| {
            core_nelbo(
                &predictor,
                &schedule.inner,
                &plan,
                &data.values,
                decoder,
                seed,
            )
        })
        .map_err(from_diffusion)?;
    let d = PyDict::new(py);
    d.set_item("total", report.total)?;
    d.set_item("bits_per_dim", report.bits_per_dim())?;
    d.set_item("std_err", report.std_err)?;
    d.set_item("prior", report.prior)?;
    d.set_item("terms", PyList::new(py, &report.terms)?)?;
    d.set_item("decoder", report.decoder)?;
    d.set_item("rows", report.rows)?;
    Ok(d)
}

/// Loads a kexue checkpoint folder (`kexue diffusion train --out DIR`).
#[pyfunction]
#[pyo3(signature = (dir, weights = "ema"))]
fn load(py: Python<'_>, dir: PathBuf, weights: &str) -> PyResult<Model> {
    let weights = match weights {
        "ema" => Weights::Ema,
        "raw" => Weights::Raw,
        other => {
            return Err(value_error(format!(
                "weights must be \"ema\" or \"raw\", got {other:?}"
            )));
        }
    };
    let (meta, model, schedule) = py.detach(|| core_load(&dir, weights))?;
    Ok(Model {
        meta,
        model,
        schedule,
        dir,
    })
}

// ---------------------------------------------------------------------------------------------
// Argument conversion

/// A discrete or continuous sampler, parsed from its CLI name.
enum AnySampler {
    Discrete(Sampler),
    Continuous(ContinuousSampler),
}

fn parse_sampler(name: &str, eta: f64) -> PyResult<AnySampler> {
    if let Ok(c) = name.parse::<ContinuousSampler>() {
        if eta != 0.0 {
            return Err(value_error(format!(
                "eta applies to ddim and analytic-ddim, not `{name}`"
            )));
        }
        return Ok(AnySampler::Continuous(c));
    }
    let s = Sampler::from_name(name).map_err(|e| {
        value_error(format!(
            "{e}; continuous samplers: {}",
            ContinuousSampler::ALL
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    Ok(AnySampler::Discrete(match s {
        Sampler::Ddim { .. } => Sampler::Ddim { eta },
        Sampler::AnalyticDdim { .. } => Sampler::AnalyticDdim { eta },
        other if eta != 0.0 => {
            return Err(value_error(format!(
                "eta applies to ddim and analytic-ddim, not `{}`",
                other.name()
            )));
        }
        other => other,
    }))
}

/// The plan settings: a checkpoint's own (`kexue diffusion sample/eval`) unless `clip_x0` is
/// given; exact-score settings for Python callables, with the optional x̂_0 clip.
fn plan_config(
    source: &EpsSource,
    sampler: Sampler,
    clip_x0: Option<(f64, f64)>,
    final_step: &str,
    purpose: Purpose,
) -> PyResult<PlanConfig> {
    let final_step = match final_step {
        "sample" => FinalStep::Sample,
        "mean" => FinalStep::Mean,
        other => {
            return Err(value_error(format!(
                "final_step must be \"sample\" or \"mean\", got {other:?}"
            )));
        }
    };
    if let (Some(m), None) = (source.model(), clip_x0) {
        return Ok(core_checkpoint_plan_config(&m.meta, sampler, purpose));
    }
    let mut config = PlanConfig::exact(sampler);
    config.final_step = final_step;
    if let Some((lo, hi)) = clip_x0 {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(value_error(format!(
                "clip_x0 must be (lo, hi) with lo < hi, got ({lo}, {hi})"
            )));
        }
        config.x0_clip = X0Clip::Range { lo, hi };
        config.data_range = DataRange::Bounded { lo, hi };
    }
    Ok(config)
}

/// `trajectory=`: None/"even"/"quad"/"uniform" (with `steps` nodes), a `Trajectory`, an
/// `OptimalTrajectory` or a list of nodes.
fn trajectory_arg(
    obj: Option<&Bound<'_, PyAny>>,
    schedule: &CoreSchedule,
    steps: usize,
) -> PyResult<CoreTrajectory> {
    let n = schedule.n_steps();
    let Some(obj) = obj else {
        return named_trajectory("even", n, steps);
    };
    if let Ok(name) = obj.extract::<String>() {
        return named_trajectory(&name, n, steps);
    }
    if let Ok(t) = obj.cast::<Trajectory>() {
        return Ok(t.get().inner.clone());
    }
    if let Ok(t) = obj.cast::<OptimalTrajectory>() {
        return Ok(t.get().trajectory.clone());
    }
    if let Ok(nodes) = obj.extract::<Vec<usize>>() {
        return CoreTrajectory::from_steps(n, nodes).map_err(from_diffusion);
    }
    Err(PyTypeError::new_err(format!(
        "trajectory must be \"even\", \"quad\", \"uniform\", a Trajectory or a list of steps, got {}",
        arrays::describe(obj)
    )))
}

fn named_trajectory(name: &str, n: usize, k: usize) -> PyResult<CoreTrajectory> {
    match name {
        "even" => CoreTrajectory::even(n, k),
        "quad" | "quadratic" => CoreTrajectory::quadratic(n, k),
        "uniform" => CoreTrajectory::uniform(n, k),
        other => {
            return Err(value_error(format!(
                "unknown trajectory {other:?} (expected even, quad, uniform)"
            )));
        }
    }
    .map_err(from_diffusion)
}

/// `gamma=`: a `Gamma`, an array of length N+1, or None (a checkpoint's cached Γ if any).
fn gamma_arg(
    obj: Option<&Bound<'_, PyAny>>,
    source: &EpsSource,
    schedule: &CoreSchedule,
) -> PyResult<CoreGamma> {
    let n = schedule.n_steps();
    let gamma = match obj {
        None => match source.model() {
            Some(m) => core_cached_gamma(&m.dir, &m.meta)?,
            None => None,
        }
        .unwrap_or_else(|| CoreGamma::unknown(n)),
        Some(obj) => match obj.cast::<Gamma>() {
            Ok(g) => g.get().inner.clone(),
            Err(_) => Gamma::new(obj)?.inner,
        },
    };
    Ok(gamma)
}

/// Splits a data array of shape (rows, *sample_shape) into its row count and sample shape.
fn split_rows(a: &arrays::Array, what: &str) -> PyResult<(usize, Vec<usize>)> {
    match a.shape.split_first() {
        Some((&rows, rest)) if rows > 0 && !rest.is_empty() => Ok((rows, rest.to_vec())),
        _ => Err(value_error(format!(
            "{what} must have shape (rows, *sample_shape) with rows ≥ 1 and at least 2 \
             dimensions, got {}",
            shape_str(&a.shape)
        ))),
    }
}

/// Checks `shape == (rows, *row_shape)` and returns rows.
fn check_rows_shape(shape: &[usize], row_shape: &[usize], what: &str) -> PyResult<usize> {
    match shape.split_first() {
        Some((&rows, rest)) if rest == row_shape && rows > 0 => Ok(rows),
        _ => Err(value_error(format!(
            "{what} has shape {}, expected (rows, {})",
            shape_str(shape),
            row_shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A 1-D float array as a vector.
fn one_dim(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f64>> {
    let a = arrays::read(obj, what)?;
    if a.shape.len() != 1 {
        return Err(value_error(format!(
            "{what} must be 1-D, got shape {}",
            shape_str(&a.shape)
        )));
    }
    Ok(a.values)
}

// ---------------------------------------------------------------------------------------------
// The library calls (the one place that names the diffusion/diffusion-nn entry points)

fn core_linear(n: usize, range: Option<(f64, f64)>) -> PyResult<CoreSchedule> {
    match range {
        None => CoreSchedule::linear(n),
        Some((a, b)) => CoreSchedule::linear_range(n, a, b),
    }
    .map_err(from_diffusion)
}

fn core_cosine(n: usize) -> PyResult<CoreSchedule> {
    CoreSchedule::cosine(n).map_err(from_diffusion)
}

fn core_from_step_betas(betas: &[f64]) -> PyResult<CoreSchedule> {
    CoreSchedule::from_step_betas(betas).map_err(from_diffusion)
}

/// ᾱ_1..ᾱ_N → β_n = 1 − ᾱ_n/ᾱ_{n−1} (ᾱ_0 = 1), the definition of ᾱ read backwards; the
/// library validates the betas. (The library has no ᾱ constructor yet.)
fn core_from_alpha_bar(alpha_bar: &[f64]) -> PyResult<CoreSchedule> {
    let betas: Vec<f64> = alpha_bar
        .iter()
        .scan(1.0, |prev, &a| {
            let b = 1.0 - a / *prev;
            *prev = a;
            Some(b)
        })
        .collect();
    core_from_step_betas(&betas)
}

fn core_net_predictor(model: &NetModel) -> NetPredictor<'_> {
    NetPredictor::new(model, pipeline::MAX_BATCH)
}

fn core_load(
    dir: &std::path::Path,
    weights: Weights,
) -> PyResult<(CheckpointMeta, NetModel, CoreSchedule)> {
    let device =
        diffusion_nn::device(diffusion_nn::DeviceChoice::Cpu).map_err(from_diffusion_nn)?;
    let (meta, model) = checkpoint::load_model(dir, weights, &device).map_err(from_diffusion_nn)?;
    let schedule = meta.schedule.build().map_err(from_diffusion_nn)?;
    Ok((meta, model, schedule))
}

fn core_cached_gamma(dir: &std::path::Path, meta: &CheckpointMeta) -> PyResult<Option<CoreGamma>> {
    let n = meta.schedule.build().map_err(from_diffusion_nn)?.n_steps();
    match pipeline::cached_gamma(dir, meta.step, n, None).map_err(from_diffusion_nn)? {
        Some(file) => Ok(Some(file.to_gamma().map_err(from_diffusion_nn)?)),
        None => Ok(None),
    }
}

fn core_checkpoint_plan_config(
    meta: &CheckpointMeta,
    sampler: Sampler,
    purpose: Purpose,
) -> PlanConfig {
    pipeline::plan_settings(meta.data.levels, purpose).with(sampler)
}

fn core_plan(
    schedule: &CoreSchedule,
    trajectory: &CoreTrajectory,
    config: &PlanConfig,
    gamma: &CoreGamma,
) -> PyResult<Vec<diffusion::Step>> {
    diffusion::plan(schedule, trajectory, config, gamma).map_err(from_diffusion)
}

fn core_estimate_gamma(
    predictor: &Predictor<'_>,
    schedule: &CoreSchedule,
    data: &[f64],
    times: &[usize],
    batch: usize,
    seed: u64,
) -> diffusion::Result<CoreGamma> {
    let mut rng = StdRng::seed_from_u64(seed);
    diffusion::analytic::estimate_gamma(
        predictor,
        schedule,
        data,
        times,
        batch,
        &mut rng,
        &mut |_| {},
    )
}

/// x_N = `start` or n·d i.i.d. N(0, 1) draws (the first draws of the seeded RNG, as
/// `kexue diffusion sample`), then the plan's steps.
fn core_sample(
    predictor: &Predictor<'_>,
    plan: &[diffusion::Step],
    n: usize,
    start: Option<Vec<f64>>,
    seed: u64,
) -> diffusion::Result<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = start.unwrap_or_else(|| {
        let mut x = vec![0.0; n * predictor.dim()];
        diffusion::standard_normal(&mut rng, &mut x);
        x
    });
    diffusion::sample(predictor, plan, &mut x, &mut rng, &mut |_| {})?;
    Ok(x)
}

/// A continuous sampler on the schedule's own VP process, the network queried at t·N (as
/// `kexue diffusion sample --sampler <continuous>`).
fn core_sample_continuous(
    predictor: &Predictor<'_>,
    schedule: &CoreSchedule,
    sampler: ContinuousSampler,
    steps: usize,
    n: usize,
    start: Option<Vec<f64>>,
    seed: u64,
) -> diffusion::Result<Vec<f64>> {
    let sde = Sde::from_schedule(schedule);
    let config = SolverConfig::new(sampler, steps);
    let retimed = diffusion::solvers::Retimed::new(predictor, schedule);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = start.unwrap_or_else(|| {
        let mut x = vec![0.0; n * predictor.dim()];
        sde.sample_prior(&mut rng, &mut x);
        x
    });
    diffusion::sample_continuous(&retimed, &sde, &config, &mut x, &mut rng)?;
    Ok(x)
}

/// Gaussian decoder, or the discretised one with `levels`; variance β̃_{1|2} unless given
/// (spec §6.7).
fn core_decoder(
    schedule: &CoreSchedule,
    variance: Option<f64>,
    levels: Option<usize>,
) -> PyResult<Decoder> {
    if schedule.n_steps() < 2 && variance.is_none() {
        return Err(value_error(
            "the default decoder variance β̃_{1|2} needs N ≥ 2; pass decoder_variance",
        ));
    }
    let variance =
        variance.unwrap_or_else(|| diffusion::nelbo::official_decoder_variance(schedule));
    Ok(match levels {
        Some(levels) => Decoder::Discretized { levels, variance },
        None => Decoder::Gaussian { variance },
    })
}

fn core_nelbo(
    predictor: &Predictor<'_>,
    schedule: &CoreSchedule,
    plan: &[diffusion::Step],
    data: &[f64],
    decoder: Decoder,
    seed: u64,
) -> diffusion::Result<diffusion::Nelbo> {
    let mut rng = StdRng::seed_from_u64(seed);
    diffusion::nelbo(
        predictor,
        schedule,
        plan,
        data,
        decoder,
        &mut rng,
        &mut |_| {},
    )
}
