"""kexue.probmap on arrays: Gumbel = softmax, any axis, Jacobians, sampling, errors."""

import numpy as np
import pytest

from kexue import probmap


def softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def test_gumbel_is_numpy_softmax_on_a_batch():
    mu = np.random.default_rng(0).normal(scale=3.0, size=(64, 10))
    p = probmap.probs(mu, noise="gumbel")
    assert p.shape == mu.shape and p.dtype == np.float64
    np.testing.assert_allclose(p, softmax(mu), rtol=0, atol=1e-12)
    # Temperature: p(mu; τ) = softmax(mu/τ).
    np.testing.assert_allclose(probmap.probs(mu, "gumbel", scale=2.5), softmax(mu / 2.5), rtol=0, atol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_any_axis_of_any_shape(axis):
    mu = np.random.default_rng(1).normal(size=(3, 4, 5))
    p = probmap.probs(mu, noise="gumbel", axis=axis)
    np.testing.assert_allclose(p, softmax(mu, axis=axis), rtol=0, atol=1e-12)
    q = probmap.probs(mu.astype(np.float32), noise="gauss", axis=axis)
    np.testing.assert_allclose(q.sum(axis=axis), 1.0, rtol=0, atol=1e-12)
    # Rows are independent: the result along `axis` equals the 1-D call on each row.
    moved = np.moveaxis(mu, axis, -1).reshape(-1, mu.shape[axis])
    direct = np.stack([probmap.probs(r, noise="gauss") for r in moved])
    batched = np.moveaxis(probmap.probs(mu, "gauss", axis=axis), axis, -1).reshape(direct.shape)
    np.testing.assert_array_equal(batched, direct)


def test_non_contiguous_input():
    mu = np.random.default_rng(2).normal(size=(6, 8))[:, ::2]
    np.testing.assert_allclose(probmap.probs(mu, "gumbel"), softmax(mu), rtol=0, atol=1e-12)


@pytest.mark.parametrize("noise", ["gauss", "gumbel", "laplace", "student:3"])
def test_jacobian_and_vjp_agree(noise):
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(4, 6))
    v = rng.normal(size=(4, 6))
    jac = probmap.jacobian(mu, noise=noise)
    assert jac.shape == (4, 6, 6)
    np.testing.assert_allclose(jac.sum(axis=1), 0.0, atol=1e-10)  # Σ_i p_i = 1
    np.testing.assert_allclose(jac, np.swapaxes(jac, 1, 2), atol=1e-10)  # symmetric
    np.testing.assert_allclose(probmap.vjp(mu, v, noise=noise), np.einsum("bi,bij->bj", v, jac), atol=1e-10)
    # Central differences of probs, step 1e-5: truncation O(h²) ≈ 1e-10, rounding ≈ 1e-11.
    h = 1e-5
    for k in range(6):
        e = np.zeros(6)
        e[k] = h
        fd = (probmap.probs(mu + e, noise) - probmap.probs(mu - e, noise)) / (2 * h)
        np.testing.assert_allclose(fd, jac[:, :, k], atol=1e-8)
    if noise == "gumbel":
        p = softmax(mu)
        np.testing.assert_allclose(jac, np.einsum("bi,ij->bij", p, np.eye(6)) - np.einsum("bi,bj->bij", p, p), atol=1e-14)


def test_sample_frequencies_follow_probs():
    mu = np.array([[0.0, 1.0, 2.0], [2.0, 0.0, -1.0]])
    size = 40_000
    draws = probmap.sample(mu, noise="gauss", size=size, seed=7)
    assert draws.shape == (size, 2) and draws.dtype == np.int64
    p = probmap.probs(mu, noise="gauss")
    for row in range(2):
        freq = np.bincount(draws[:, row], minlength=3) / size
        # Binomial standard error √(p(1−p)/size); 5 of them.
        np.testing.assert_array_less(np.abs(freq - p[row]), 5 * np.sqrt(p[row] * (1 - p[row]) / size) + 1e-12)
    np.testing.assert_array_equal(probmap.sample(mu, "gauss", size=10, seed=7), draws[:10])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"mu\[1\] = NaN is not finite"):
        probmap.probs(np.array([0.0, np.nan]))
    with pytest.raises(TypeError, match="float32 or float64"):
        probmap.probs(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="list"):
        probmap.probs([1.0, 2.0])
    with pytest.raises(ValueError, match="unknown noise family"):
        probmap.probs(np.zeros(3), noise="cauchy-ish")
    with pytest.raises(ValueError, match="student:ν"):
        probmap.probs(np.zeros(3), noise="student")
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        probmap.probs(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="scale"):
        probmap.probs(np.zeros(3), scale=0.0)
    with pytest.raises(ValueError, match="empty"):
        probmap.probs(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="v has shape"):
        probmap.vjp(np.zeros((2, 3)), np.zeros((3, 2)))
