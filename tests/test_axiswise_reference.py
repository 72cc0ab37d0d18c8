"""Float64 reference values of every method (to 1e-6, the precision they are given to)."""

import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj

X = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3], dtype=jnp.float64)
TOL = dict(rtol=0, atol=1.5e-6)


def test_defaults():
    np.testing.assert_allclose(sj.sort(X), [-0.352827, 0.196997, 0.313120, 0.858806, 1.530194], **TOL)
    np.testing.assert_allclose(
        sj.sort(X, descending=True), [1.530194, 0.858806, 0.313120, 0.196997, -0.352827], **TOL
    )
    np.testing.assert_allclose(sj.rank(X), [3.726378, 1.059741, 4.925241, 1.889650, 3.382273], **TOL)
    np.testing.assert_allclose(sj.max(X), 1.5713617068, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sj.min(X), -0.3340877348, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sj.median(X), 0.3131200660, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sj.quantile(X, 0.3), 0.2202219480, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sj.percentile(X, 30.0), 0.2202219480, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sj.argmax(X), [0.010770, 0.862581, 0.001571, 0.110137, 0.014941], **TOL)
    np.testing.assert_allclose(sj.argmedian(X), [0.375658, 0.000085, 0.000931, 0.085520, 0.537806], **TOL)
    np.testing.assert_allclose(sj.top_k(X, 2)[0], [1.530194, 0.858806], **TOL)


def test_max_gradients():
    import jax

    np.testing.assert_allclose(
        jax.grad(sj.max)(X), [0.014330, 1.016718, 0.095914, -0.123132, -0.003830], **TOL
    )
    np.testing.assert_allclose(
        jax.grad(lambda x: sj.max(x, gated_grad=False))(X), sj.argmax(X), rtol=1e-12, atol=1e-15
    )


SORT_RANK = {
    ("smooth", "softsort"): (
        [0.073119, 0.325701, 0.364701, 0.691409, 1.047129],
        [3.362077, 2.042102, 3.863118, 2.609896, 3.257668],
    ),
    ("smooth", "neuralsort"): (
        [-0.200844, 0.093983, 0.419255, 0.907924, 1.390228],
        [3.639029, 1.347546, 4.561389, 2.089470, 3.414036],
    ),
    ("c0", "softsort"): (
        [-0.353549, 0.244545, 0.255455, 0.902292, 1.574428],
        [3.554547, 1.156966, 4.750736, 2.033697, 3.445453],
    ),
    ("c0", "neuralsort"): (
        [-0.5, -0.263912, 0.424832, 1.422221, 1.7],
        [3.416630, 1.394957, 4.597075, 2.432079, 3.175071],
    ),
    ("c1", "softsort"): (
        [-0.411154, 0.232725, 0.262984, 0.889734, 1.639372],
        [3.595681, 1.075786, 4.843328, 2.054588, 3.411113],
    ),
    ("c1", "neuralsort"): (
        [-0.5, -0.094311, 0.398352, 1.223258, 1.7],
        [3.505508, 1.287786, 4.689608, 2.269390, 3.317894],
    ),
    ("c2", "softsort"): (
        [-0.462370, 0.233971, 0.263199, 0.895788, 1.677428],
        [3.613358, 1.028216, 4.935591, 2.022335, 3.391018],
    ),
    ("c2", "neuralsort"): (
        [-0.5, 0.044490, 0.367830, 1.022889, 1.699955],
        [3.580465, 1.133163, 4.792072, 2.165438, 3.359498],
    ),
}


@pytest.mark.parametrize("mode,method", sorted(SORT_RANK))
def test_sort_rank_softness_03(mode, method):
    sort_ref, rank_ref = SORT_RANK[mode, method]
    np.testing.assert_allclose(sj.sort(X, softness=0.3, mode=mode, method=method), sort_ref, **TOL)
    np.testing.assert_allclose(sj.rank(X, softness=0.3, mode=mode, method=method), rank_ref, **TOL)


@pytest.mark.parametrize("axis", [0, -1, None])
def test_batched_and_axes_match_rows(axis):
    # Same reference numbers with batch dimensions and every axis convention.
    ref = np.array(SORT_RANK["smooth", "neuralsort"][0])
    stacked = jnp.stack([X, X[::-1]])  # (2, 5)
    if axis is None:
        out = sj.sort(X[None, :], axis=None, softness=0.3)
        np.testing.assert_allclose(out, ref, **TOL)
        return
    data = stacked if axis in (-1, 1) else stacked.T
    out = sj.sort(data, axis=axis, softness=0.3)
    out = out if axis in (-1, 1) else out.T
    np.testing.assert_allclose(out[0], ref, **TOL)
    np.testing.assert_allclose(out[1], ref, **TOL)


def test_quantiles_softness_03():
    np.testing.assert_allclose(sj.quantile(X, 0.3, softness=0.3, method="softsort"), 0.333501, **TOL)
    np.testing.assert_allclose(sj.quantile(X, 0.3, softness=0.3, method="neuralsort"), 0.159037, **TOL)
    np.testing.assert_allclose(sj.median(X, softness=0.3, method="softsort"), 0.364701, **TOL)
    np.testing.assert_allclose(sj.median(X, softness=0.3, method="neuralsort"), 0.419255, **TOL)
    np.testing.assert_allclose(
        sj.argquantile(X, 0.3, softness=0.3),
        [0.343556, 0.008656, 0.223630, 0.100298, 0.323859],
        **TOL,
    )


ARGMAX = {
    "smooth": (
        [0.109617, 0.472499, 0.057705, 0.237928, 0.122252],
        [0.016583, 0.649380, 0.000264, 0.304943, 0.028831],
    ),
    "c0": ([0, 0.843034, 0, 0.156966, 0], [0, 1, 0, 0, 0]),
    "c1": ([0, 0.924214, 0, 0.075786, 0], [0, 1, 0, 0, 0]),
    "c2": ([0, 0.971784, 0, 0.028216, 0], [0, 0.999944, 0, 0.000056, 0]),
}


@pytest.mark.parametrize("mode", sorted(ARGMAX))
def test_argmax_softness_03(mode):
    softsort_ref, neuralsort_ref = ARGMAX[mode]
    np.testing.assert_allclose(sj.argmax(X, softness=0.3, mode=mode), softsort_ref, **TOL)
    np.testing.assert_allclose(
        sj.argmax(X, softness=0.3, mode=mode, method="neuralsort"), neuralsort_ref, **TOL
    )


def test_shapes():
    ones = jnp.ones((2, 3))
    assert sj.argmax(ones, axis=0).shape == (3, 2)
    assert sj.argmax(ones, axis=1).shape == (2, 3)
    assert sj.argmax(ones, axis=1, keepdims=True).shape == (2, 1, 3)
    assert sj.argmax(ones, axis=0, keepdims=True).shape == (1, 3, 2)
    assert sj.argmax(ones, axis=None, keepdims=True).shape == (1, 1, 6)
    assert sj.argsort(ones, axis=0).shape == (2, 3, 2)
    assert sj.argsort(ones).shape == (6, 6)
    assert sj.top_k(ones, k=2, axis=0)[1].shape == (2, 3, 2)
    assert sj.argquantile(ones, jnp.array([0.1, 0.5]), axis=1, keepdims=True).shape == (2, 2, 1, 3)
    assert sj.quantile(ones, jnp.array([0.1, 0.5]), axis=1, keepdims=True).shape == (2, 2, 1)
    assert sj.max(ones, axis=None, keepdims=True).shape == (1, 1)
    assert sj.rank(ones, axis=0).shape == (2, 3)


@pytest.mark.parametrize("method", ["softsort", "neuralsort"])
def test_single_element(method):
    one = jnp.array([42.0])
    assert sj.sort(one, method=method)[0] == 42.0
    assert sj.max(one, method=method) == 42.0
    assert sj.quantile(one, 0.5, method=method) == 42.0
    assert sj.rank(one, method=method)[0] == 1.0
    for op in (sj.argmax, sj.argsort, sj.argmedian):
        np.testing.assert_array_equal(jnp.ravel(op(one, method=method)), [1.0])
