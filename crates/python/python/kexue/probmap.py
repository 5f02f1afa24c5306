"""Probability maps p_i = P(argmax_j(mu_j + scale·eps_j) = i) for i.i.d. noise.

Gumbel noise gives softmax exactly; gauss, logistic, laplace, uniform, exponential and
``student:ν`` give its alternatives. Every function works on float arrays of any shape, row by
row along ``axis`` (the other axes are a batch), in float64.
"""

from ._kexue import probmap as _native

probs = _native.probs
jacobian = _native.jacobian
vjp = _native.vjp
sample = _native.sample
NOISES = _native.NOISES

__all__ = ["probs", "jacobian", "vjp", "sample", "NOISES"]
