"""Soft writes at a SoftIndex (softjax._src.writes): the adjoints of the soft reads."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays
from jax.test_util import check_grads

import softjax as sj
from finiteness_cases import Case, run

_RNG = np.random.default_rng(0)
_OP = _RNG.standard_normal((3, 4, 5)).astype(np.float32)


def _dist(*shape, seed=0):
    """Random rows on the simplex (last axis)."""
    p = np.random.default_rng(seed).uniform(size=shape) ** 2
    return p / p.sum(-1, keepdims=True)


def one_hot(i, n, dtype=jnp.float32):
    return jax.nn.one_hot(i, n, dtype=dtype)


# --- one-hot SoftIndex == the hard write, exactly -----------------------------------------


def test_one_hot_index_in_dim_equals_lax():
    op = jnp.asarray(_OP)
    for axis in range(3):
        n = op.shape[axis]
        upd = jnp.asarray(_RNG.standard_normal((*op.shape[:axis], 1, *op.shape[axis + 1 :])), jnp.float32)
        for i in range(n):
            hard = jax.lax.dynamic_update_index_in_dim(op, upd, i, axis)
            soft = sj.dynamic_update_index_in_dim(op, upd, one_hot(i, n), axis)
            assert soft.dtype == jnp.float32
            np.testing.assert_array_equal(soft, hard)
            squeezed = jnp.squeeze(upd, axis)  # update without the axis, as JAX accepts
            np.testing.assert_array_equal(
                sj.dynamic_update_index_in_dim(op, squeezed, one_hot(i, n), axis), hard
            )
    # Non-finite entries are not read where the write is certain (or impossible).
    op2 = jnp.array([[np.inf, 1.0], [np.nan, 2.0], [3.0, -np.inf]], jnp.float32)
    upd2 = jnp.array([[np.nan, np.inf]], jnp.float32)
    for i in range(3):
        hard = jax.lax.dynamic_update_index_in_dim(op2, upd2, i, 0)
        np.testing.assert_array_equal(sj.dynamic_update_index_in_dim(op2, upd2, one_hot(i, 3), 0), hard)


def test_one_hot_slices_equal_lax():
    op = jnp.asarray(_OP)
    for axis, size in ((0, 2), (1, 3), (2, 1), (2, 5), (-1, 4)):
        n = op.shape[axis]
        shape = list(op.shape)
        shape[axis] = size
        upd = jnp.asarray(_RNG.standard_normal(shape), jnp.float32)
        for i in range(n):  # starts beyond n - size are clamped, as in JAX
            hard = jax.lax.dynamic_update_slice_in_dim(op, upd, i, axis)
            soft = sj.dynamic_update_slice_in_dim(op, upd, one_hot(i, n), axis)
            np.testing.assert_array_equal(soft, hard)
    # Update smaller along the other axes: written from index 0 there.
    upd = jnp.ones((2, 2, 3), jnp.float32)
    for i in range(4):
        hard = jax.lax.dynamic_update_slice_in_dim(op, upd, i, 1)
        np.testing.assert_array_equal(sj.dynamic_update_slice_in_dim(op, upd, one_hot(i, 4), 1), hard)
    upd = jnp.asarray(_RNG.standard_normal((2, 3, 2)), jnp.float32)
    for idx in itertools.product(range(3), range(4), range(5)):
        starts = [one_hot(i, n) for i, n in zip(idx, op.shape, strict=True)]
        soft = sj.dynamic_update_slice(op, upd, starts)
        np.testing.assert_array_equal(soft, jax.lax.dynamic_update_slice(op, upd, idx))
    op2 = op.at[1, 1, 1].set(np.inf).at[0, 2, 0].set(np.nan)
    for idx in ((1, 1, 0), (0, 0, 0), (1, 2, 3)):
        starts = [one_hot(i, n) for i, n in zip(idx, op.shape, strict=True)]
        soft = sj.dynamic_update_slice(op2, upd, starts)
        np.testing.assert_array_equal(soft, jax.lax.dynamic_update_slice(op2, upd, idx))


def test_one_hot_put_along_axis_equals_jnp():
    arr = jnp.asarray(_OP)
    for axis in (0, 1, 2, -1, None):
        n = arr.size if axis is None else arr.shape[axis]
        m = min(n, 3)
        if axis is None:
            idx = jnp.asarray(_RNG.permutation(n)[:m])
        else:  # distinct positions along the axis, per row
            shape = list(arr.shape)
            shape[axis] = m
            keys = _RNG.uniform(size=arr.shape)
            idx = jnp.asarray(np.take(np.argsort(keys, axis=axis), np.arange(m), axis=axis))
        values = jnp.asarray(_RNG.standard_normal(idx.shape), jnp.float32)
        hard = jnp.put_along_axis(arr, idx, values, axis, inplace=False)
        soft = sj.put_along_axis(arr, one_hot(idx, n), values, axis)
        assert soft.shape == arr.shape and soft.dtype == jnp.float32
        np.testing.assert_array_equal(soft, hard)
    # A scalar value, an index broadcast over a batch axis, non-finite entries.
    arr2 = jnp.array([[np.inf, 1.0, 2.0], [3.0, np.nan, 5.0]], jnp.float32)
    idx = jnp.array([[0], [1]])
    hard = jnp.put_along_axis(arr2, idx, np.float32(np.inf), 1, inplace=False)
    np.testing.assert_array_equal(sj.put_along_axis(arr2, one_hot(idx, 3), np.float32(np.inf), 1), hard)
    hard = jnp.put_along_axis(arr2, jnp.array([[2]]), jnp.float32(-1.0), 1, inplace=False)
    np.testing.assert_array_equal(sj.put_along_axis(arr2, one_hot(jnp.array([[2]]), 3), -1.0, 1), hard)
    # Repeated positions: the last write wins.
    out = sj.put_along_axis(
        jnp.zeros(3), one_hot(jnp.array([1, 1]), 3, jnp.float64), jnp.array([5.0, 7.0]), 0
    )
    np.testing.assert_array_equal(out, [0.0, 7.0, 0.0])


# --- soft writes are the expected hard writes ---------------------------------------------


def test_expected_value_of_the_hard_write():
    op = jnp.asarray(_OP, jnp.float64)
    upd = jnp.asarray(_RNG.standard_normal((2, 3, 5)))
    p = [_dist(n, seed=k) for k, n in enumerate(op.shape)]
    expected = sum(
        p[0][a] * p[1][b] * p[2][c] * jax.lax.dynamic_update_slice(op, upd, (a, b, c))
        for a, b, c in itertools.product(range(3), range(4), range(5))
    )
    np.testing.assert_allclose(sj.dynamic_update_slice(op, upd, p), expected, atol=1e-14)
    expected = sum(p[1][i] * jax.lax.dynamic_update_slice_in_dim(op, upd[:, :2], i, 1) for i in range(4))
    np.testing.assert_allclose(sj.dynamic_update_slice_in_dim(op, upd[:, :2], p[1], 1), expected, atol=1e-14)
    u1 = jnp.asarray(_RNG.standard_normal((3, 4, 1)))
    expected = sum(p[2][i] * jax.lax.dynamic_update_index_in_dim(op, u1, i, 2) for i in range(5))
    np.testing.assert_allclose(sj.dynamic_update_index_in_dim(op, u1, p[2], 2), expected, atol=1e-14)
    # put_along_axis: m independent writes per row, applied in order.
    arr = jnp.asarray(_RNG.standard_normal((2, 4)))
    q = _dist(2, 3, 4, seed=7)  # 3 writes per row
    v = _RNG.standard_normal((2, 3))
    expected = np.zeros((2, 4))
    for r in range(2):
        for js in itertools.product(range(4), repeat=3):
            row = np.asarray(arr[r]).copy()
            for k, j in enumerate(js):
                row[j] = v[r, k]
            expected[r] += np.prod([q[r, k, j] for k, j in enumerate(js)]) * row
    np.testing.assert_allclose(sj.put_along_axis(arr, q, v, 1), expected, atol=1e-14)
    # The adjoint of the soft read: <write(0, u), x> = <u, read(x)>.
    x = jnp.asarray(_RNG.standard_normal(5))
    w = sj.dynamic_update_slice_in_dim(jnp.zeros(5), upd[0, 0, :3], p[2], 0)
    np.testing.assert_allclose(w @ x, upd[0, 0, :3] @ sj.dynamic_slice_in_dim(x, p[2], 3), atol=1e-14)


def test_invalid_arguments():
    op, p4 = jnp.zeros((3, 4)), jnp.full(4, 0.25)
    with pytest.raises(ValueError, match="dynamic_update_index_in_dim: update must have shape"):
        sj.dynamic_update_index_in_dim(op, jnp.zeros((3, 2)), p4, 1)
    with pytest.raises(ValueError, match="dynamic_update_index_in_dim: soft_index must be 1-D"):
        sj.dynamic_update_index_in_dim(op, jnp.zeros(3), jnp.ones(3), 1)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        sj.dynamic_update_index_in_dim(op, jnp.zeros(3), p4, 2)
    with pytest.raises(ValueError, match="dynamic_update_slice_in_dim: update must have operand's rank"):
        sj.dynamic_update_slice_in_dim(op, jnp.zeros((3, 5)), p4, 1)
    with pytest.raises(
        ValueError, match="dynamic_update_slice_in_dim: soft_start_index must be 1-D of length 4"
    ):
        sj.dynamic_update_slice_in_dim(op, jnp.zeros((3, 2)), jnp.ones(3), 1)
    with pytest.raises(ValueError, match="soft_start_indices needs one soft start index per axis"):
        sj.dynamic_update_slice(op, jnp.zeros((1, 1)), [p4])
    with pytest.raises(ValueError, match=r"soft_start_indices\[0\] must be 1-D of length 3"):
        sj.dynamic_update_slice(op, jnp.zeros((1, 1)), [p4, p4])
    with pytest.raises(ValueError, match=r"put_along_axis: soft_index must have arr.ndim \+ 1"):
        sj.put_along_axis(op, jnp.zeros((3, 4)), 1.0, 1)
    with pytest.raises(
        ValueError, match=r"put_along_axis: the last axis of soft_index must have length n = arr"
    ):
        sj.put_along_axis(op, jnp.zeros((3, 1, 3)), 1.0, 1)
    with pytest.raises(ValueError, match="put_along_axis: the dimensions of soft_index other than"):
        sj.put_along_axis(op, jnp.zeros((2, 1, 4)), 1.0, 1)
    with pytest.raises(ValueError, match="put_along_axis: values must broadcast"):
        sj.put_along_axis(op, jnp.zeros((3, 2, 4)), jnp.ones(3), 1)


# --- gradients and transforms -----------------------------------------------------------


def test_check_grads():
    op = jnp.asarray(_RNG.standard_normal((3, 4)))
    upd = jnp.asarray(_RNG.standard_normal((2, 2)))
    p0, p1 = jnp.asarray(_dist(3, seed=1)), jnp.asarray(_dist(4, seed=2))
    fns = {
        "index": (
            jax.jit(lambda o, u, p: sj.dynamic_update_index_in_dim(o, u, p, 1)),
            (op, jnp.asarray(_RNG.standard_normal(3)), p1),
        ),
        "slice_in_dim": (
            jax.jit(lambda o, u, p: sj.dynamic_update_slice_in_dim(o, u, p, 0)),
            (op, jnp.asarray(_RNG.standard_normal((2, 4))), p0),
        ),
        "slice": (jax.jit(lambda o, u, a, b: sj.dynamic_update_slice(o, u, [a, b])), (op, upd, p0, p1)),
        "put": (
            jax.jit(lambda o, p, v: sj.put_along_axis(o, p, v, 1)),
            (op, jnp.asarray(_dist(3, 2, 4)), jnp.asarray(_RNG.standard_normal((3, 2)))),
        ),
    }
    for f, args in fns.values():
        check_grads(f, args, order=2, modes=["fwd", "rev"])


def test_jit_and_vmap_over_soft_indices():
    op = jnp.asarray(_OP, jnp.float64)
    ps = jnp.asarray(_dist(6, 4, seed=3))
    upd = jnp.asarray(_RNG.standard_normal((3, 2, 5)))

    @jax.jit
    def batched(ps):
        return (
            jax.vmap(lambda p: sj.dynamic_update_slice_in_dim(op, upd, p, 1))(ps),
            jax.vmap(lambda p: sj.put_along_axis(op[0], p[None, None], 1.0, 0))(ps),
        )

    slices, puts = batched(ps)
    for k in range(6):
        np.testing.assert_allclose(slices[k], sj.dynamic_update_slice_in_dim(op, upd, ps[k], 1), atol=1e-15)
        np.testing.assert_allclose(puts[k], sj.put_along_axis(op[0], ps[k][None, None], 1.0, 0), atol=1e-15)


def _writes(x, s):
    """Every write, at a soft index whose sharpness follows the softness."""
    n = x.shape[-1]
    pos = jnp.arange(n, dtype=jnp.float32)
    p = jax.nn.softmax(-jnp.abs(pos - n / 3) / s).astype(x.dtype)
    q = jax.nn.softmax(-jnp.abs(pos - n / 2) / s).astype(x.dtype)
    size = min(3, n)
    return (
        sj.dynamic_update_index_in_dim(x, x[::-1][:1], p, 0),
        sj.dynamic_update_slice_in_dim(x, x[::-1][:size], q, 0),
        sj.dynamic_update_slice(x[None], x[None, ::-1][:, :size], [jnp.ones(1, x.dtype), p]),
        sj.put_along_axis(x, jnp.stack([p, q]), x[::-1][:2], 0),
    )


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_finite_values_and_gradients_at_extremes(dtype):
    # Rows from 1e-30 to 0.9 x the dtype's maximum; soft indices from softness 1e-6 to 1e3.
    outcome = run(Case("writes", "all", None, "-", _writes), dtype, 33)
    assert outcome.cases_run > 0 and not outcome.failures, outcome.failures[:5]


# --- invariant ---------------------------------------------------------------------------

_blend = jax.jit(
    lambda op, upd, p, q, v: (
        sj.dynamic_update_index_in_dim(op, upd[:1], p, 0),
        sj.dynamic_update_slice_in_dim(op, upd, p, 0),
        sj.put_along_axis(op, q, v, 0),
        sj.put_along_axis(jnp.ones_like(op), q, jnp.ones_like(v), 0),
    )
)


@given(
    op=arrays(np.float64, 6, elements=st.floats(-1e6, 1e6, width=64)),
    upd=arrays(np.float64, 3, elements=st.floats(-1e6, 1e6, width=64)),
    w=arrays(np.float64, (3, 6), elements=st.floats(0.0, 1.0, width=64)),
)
def test_writes_are_convex_blends(op, upd, w):
    w = w + 1e-3
    w = w / w.sum(-1, keepdims=True)
    index, sliced, put, ones = _blend(op, upd, w[0], w[:2], upd[:2])
    tol = 1e-9 * (1 + np.abs(op).max() + np.abs(upd).max())
    lo, hi = np.minimum(op, upd.min()), np.maximum(op, upd.max())
    for out in (index, sliced, put):
        assert np.all(out >= lo - tol) and np.all(out <= hi + tol)
    lo0, hi0 = np.minimum(op, upd[0]), np.maximum(op, upd[0])
    assert np.all(index >= lo0 - tol) and np.all(index <= hi0 + tol)
    np.testing.assert_allclose(ones, 1.0, atol=1e-12)  # the blend weights sum to 1
