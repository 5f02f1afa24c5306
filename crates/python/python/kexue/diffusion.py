"""Diffusion models around any ε-network (DDPM, DDIM, Analytic-DPM, continuous solvers).

``eps_fn(x_t, t) -> eps`` is any callable: ``x_t`` is a float64 array of shape
``(rows, *sample_shape)``, ``t`` a float64 array of shape ``(rows,)`` holding the model time on
the discrete scale 1..N (fractional for the continuous samplers, which query ``t_cont * N``),
and the result must be a float32 or float64 array of ``x_t``'s shape. The sampling loop runs
in Rust with the GIL released; each call takes the GIL, calls ``eps_fn`` on at most ``batch``
rows, checks the result and copies it back. An exception raised by ``eps_fn`` stops the run and
propagates unchanged; a result of the wrong type, shape or with NaN raises ``TypeError`` or
``ValueError``. A kexue checkpoint from ``load(dir)`` can be used in place of ``eps_fn`` and then
runs without Python.
"""

from ._kexue import diffusion as _native

Schedule = _native.Schedule
Trajectory = _native.Trajectory
Gamma = _native.Gamma
OptimalTrajectory = _native.OptimalTrajectory
Model = _native.Model
estimate_gamma = _native.estimate_gamma
optimal_trajectory = _native.optimal_trajectory
sample = _native.sample
nelbo = _native.nelbo
load = _native.load
DISCRETE_SAMPLERS = _native.DISCRETE_SAMPLERS
CONTINUOUS_SAMPLERS = _native.CONTINUOUS_SAMPLERS

__all__ = [
    "Schedule",
    "Trajectory",
    "Gamma",
    "OptimalTrajectory",
    "Model",
    "estimate_gamma",
    "optimal_trajectory",
    "sample",
    "nelbo",
    "load",
    "DISCRETE_SAMPLERS",
    "CONTINUOUS_SAMPLERS",
]
