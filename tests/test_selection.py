"""Tests for the soft selection operators."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

RNG = np.random.default_rng(0)


def one_hot(i, n, dtype=jnp.float64):
    return jax.nn.one_hot(jnp.asarray(i), n, dtype=dtype)


# --- where ----------------------------------------------------------------------------


def test_where_values_and_broadcasting():
    c = jnp.array([1.0, 0.25, 0.0])
    np.testing.assert_array_equal(sj.where(c, jnp.array([1.0, 2.0, 3.0]), -1.0), [1.0, -0.25, -1.0])
    out = sj.where(jnp.array([[1.0], [0.0]]), jnp.arange(3.0), 10.0)
    np.testing.assert_array_equal(out, [[0.0, 1.0, 2.0], [10.0, 10.0, 10.0]])
    b = jnp.array([True, False])
    np.testing.assert_array_equal(sj.where(b, 1.0, 2.0), jnp.where(b, 1.0, 2.0))
    assert sj.where(0.5, jnp.ones(2, jnp.float32), 0.0).dtype == jnp.float32


def test_where_gradients():
    c = jnp.array([1.0, 0.25, 0.0])
    x, y = jnp.array([1.0, 2.0, 3.0]), jnp.array([4.0, 5.0, 6.0])
    gx, gy, gc = jax.grad(lambda x, y, c: jnp.sum(sj.where(c, x, y)), argnums=(0, 1, 2))(x, y, c)
    np.testing.assert_array_equal(gx, c)
    np.testing.assert_array_equal(gy, 1 - c)
    np.testing.assert_array_equal(gc, x - y)
    check_grads(sj.where, (c, x, y), order=2, modes=("fwd", "rev"))


def test_where_non_finite_branch():
    # An exact 0/1 condition selects like jnp.where; inside (0, 1) the blend
    # propagates the infinite branch (documented), sanitising it fixes that.
    assert float(sj.where(1.0, 1.0, jnp.inf)) == 1.0
    assert np.isinf(sj.where(0.5, 1.0, jnp.inf))
    assert float(sj.where(0.5, 1.0, jnp.nan_to_num(jnp.inf))) > 1e300
    assert float(sj.where(0.5, 1.0, sj.log(0.0))) == 0.5
    # Both branches non-finite: the selected one is returned, as by jnp.where.
    for c, x, y in ((1.0, jnp.inf, jnp.nan), (0.0, jnp.nan, -jnp.inf), (1.0, -jnp.inf, jnp.inf)):
        assert float(sj.where(c, x, y)) == float(jnp.where(c == 1.0, x, y))
    assert np.isnan(sj.where(1.0, jnp.nan, jnp.inf))


def test_where_shape_error():
    with pytest.raises(
        ValueError, match=r"where: condition, x and y are not broadcast-compatible.*x\.shape=\(3,\)"
    ):
        sj.where(jnp.ones(2), jnp.ones(3), 0.0)


# --- take_along_axis ------------------------------------------------------------------


def test_take_along_axis_spec_examples():
    x = jnp.array([[1.0, 2, 3], [4, 5, 6]])
    idx = one_hot([[0, 2], [1, 0]], 3)
    np.testing.assert_array_equal(sj.take_along_axis(x, idx, axis=1), [[1, 3], [5, 4]])
    np.testing.assert_allclose(
        sj.take_along_axis(jnp.array([10.0, 20, 30]), jnp.full((1, 3), 1 / 3), axis=0), [20.0], rtol=1e-15
    )


@pytest.mark.parametrize("axis", [0, 1, 2, -1, None])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.int32])
def test_take_along_axis_matches_jax(axis, dtype):
    x = jnp.asarray(RNG.normal(size=(2, 3, 4)) * 1e6 + 0.3, dtype)
    if axis is None:
        ints = jnp.asarray(RNG.integers(0, x.size, size=(5,)))
        want = jnp.take_along_axis(x, ints, axis=None)
        n = x.size
    else:
        shape = list(x.shape)
        shape[axis] = 5
        ints = jnp.asarray(RNG.integers(0, x.shape[axis], size=shape))
        want = jnp.take_along_axis(x, ints, axis=axis)
        n = x.shape[axis]
    idx_dtype = jnp.float32 if dtype == jnp.float32 else jnp.float64
    got = sj.take_along_axis(x, one_hot(ints, n, idx_dtype), axis=axis)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want.astype(got.dtype))  # exact, also in float32


def test_take_along_axis_broadcasts_batch_dims():
    x = jnp.asarray(RNG.normal(size=(2, 1, 4)))
    idx = jax.nn.softmax(jnp.asarray(RNG.normal(size=(1, 3, 5, 4))), axis=-1)
    # batch dims (2, 1) of x and (1, 3) of the index broadcast to (2, 3); k = 5 at axis 2
    got = sj.take_along_axis(x, idx, axis=2)
    assert got.shape == (2, 3, 5)
    np.testing.assert_allclose(got, jnp.einsum("an,dkn->adk", x[:, 0], idx[0]), rtol=1e-14, atol=1e-15)


def test_take_along_axis_errors():
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match=r"soft_index must have x\.ndim \+ 1 = 3 dimensions"):
        sj.take_along_axis(x, jnp.ones((2, 3)), axis=1)
    with pytest.raises(
        ValueError, match=r"last axis of soft_index must have length n = x\.shape\[axis\] = 3"
    ):
        sj.take_along_axis(x, jnp.ones((2, 2, 4)), axis=1)
    with pytest.raises(ValueError, match="must broadcast"):
        sj.take_along_axis(x, jnp.ones((3, 2, 3)), axis=1)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        sj.take_along_axis(x, jnp.ones((2, 3, 3)), axis=2)
    with pytest.raises(ValueError, match=r"x\.ndim \+ 1 = 2"):
        sj.take_along_axis(x, jnp.ones((6,)), axis=None)


# --- take -----------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("idx_shape", [(4,), (2, 3), ()])
def test_take_matches_jax(axis, idx_shape):
    x = jnp.asarray(RNG.normal(size=(3, 5)) * 1e6 + 0.1, jnp.float32)
    n = x.size if axis is None else x.shape[axis]
    ints = jnp.asarray(RNG.integers(0, n, size=idx_shape))
    got = sj.take(x, one_hot(ints, n, jnp.float32), axis=axis)
    want = jnp.take(x, ints, axis=axis)
    assert got.shape == want.shape and got.dtype == jnp.float32
    np.testing.assert_array_equal(got, want)


def test_take_soft_weights():
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(sj.take(x, jnp.array([[0.0, 0, 0, 1], [0.5, 0.5, 0, 0]])), [4.0, 1.5])
    np.testing.assert_array_equal(sj.take(x, jnp.array([[0.25, 0.75]]), axis=0), [[2.5, 3.5]])


def test_take_errors():
    x = jnp.ones((2, 3))
    with pytest.raises(
        ValueError, match=r"take: the last axis of soft_index must have length n = x\.size = 6"
    ):
        sj.take(x, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"x\.shape\[axis\] = 2.*soft_index\.shape=\(4, 3\)"):
        sj.take(x, jnp.ones((4, 3)), axis=0)
    with pytest.raises(ValueError, match="axis -3 is out of bounds"):
        sj.take(x, jnp.ones((4, 3)), axis=-3)


# --- choose ---------------------------------------------------------------------------


def test_choose_spec_examples():
    got = sj.choose(jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(got, [3.0, 2.0])
    got = sj.choose(jnp.array([[0.25, 0.75]]), jnp.array([[1.0, 2.0, 5.0], [3.0, 4.0, 7.0]]))
    np.testing.assert_array_equal(got, [2.5, 3.5, 6.5])


def test_choose_matches_jax():
    choices = jnp.asarray(RNG.normal(size=(4, 2, 3)), jnp.float32)
    ints = jnp.asarray(RNG.integers(0, 4, size=(5, 2, 3)))
    got = sj.choose(one_hot(ints[0], 4, jnp.float32), choices)
    np.testing.assert_array_equal(got, jnp.choose(ints[0], choices))
    # broadcasting between choices.shape[1:] and soft_index.shape[:-1]
    got = sj.choose(one_hot(ints[0, :1], 4), choices)
    np.testing.assert_array_equal(got, jnp.choose(jnp.broadcast_to(ints[0, :1], (2, 3)), choices))


def test_choose_errors():
    with pytest.raises(ValueError, match=r"soft_index\.ndim == choices\.ndim"):
        sj.choose(jnp.ones((2, 3, 2)), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"n = choices\.shape\[0\] = 2"):
        sj.choose(jnp.ones((3, 3)), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="not broadcast-compatible"):
        sj.choose(jnp.ones((4, 2)), jnp.ones((2, 3)))


# --- dynamic_index_in_dim -------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [True, False])
def test_dynamic_index_in_dim_matches_lax(axis, keepdims):
    x = jnp.asarray(RNG.normal(size=(3, 4)), jnp.float32)
    n = x.shape[axis]
    for i in range(n):
        got = sj.dynamic_index_in_dim(x, one_hot(i, n, jnp.float32), axis=axis, keepdims=keepdims)
        want = jax.lax.dynamic_index_in_dim(x, i, axis=axis, keepdims=keepdims)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_dynamic_index_in_dim_example_and_errors():
    x = jnp.array([[10.0, 20.0], [30.0, 40.0]])
    np.testing.assert_array_equal(sj.dynamic_index_in_dim(x, one_hot(1, 2)), [[30.0, 40.0]])
    with pytest.raises(
        ValueError, match=r"soft_index must be 1-D of length n = x\.shape\[axis\] = 2.*\(2, 2\)"
    ):
        sj.dynamic_index_in_dim(x, jnp.eye(2))  # clear message for a 2-D index
    with pytest.raises(ValueError, match=r"got soft_index.shape=\(3,\)"):
        sj.dynamic_index_in_dim(x, jnp.ones(3), axis=1)


# --- dynamic_slice_in_dim / dynamic_slice ---------------------------------------------


def test_dynamic_slice_in_dim_clamps_like_jax():
    # Out-of-range starts are clamped, not wrapped around (which gives [4, 0, 1]).
    x = jnp.arange(5.0)
    np.testing.assert_array_equal(sj.dynamic_slice_in_dim(x, one_hot(4, 5), 3), [2.0, 3.0, 4.0])


@pytest.mark.parametrize("axis", [0, 1])
def test_dynamic_slice_in_dim_all_starts(axis):
    x = jnp.asarray(RNG.normal(size=(5, 6)), jnp.float32)
    n = x.shape[axis]
    starts = jnp.arange(n)  # includes every out-of-range start for size > 1
    for size in (1, 3, n):
        got = jax.jit(jax.vmap(lambda p, size=size: sj.dynamic_slice_in_dim(x, p, size, axis=axis)))(
            one_hot(starts, n, jnp.float32)
        )
        want = jax.jit(jax.vmap(lambda i, size=size: jax.lax.dynamic_slice_in_dim(x, i, size, axis=axis)))(
            starts
        )
        np.testing.assert_array_equal(got, want, err_msg=f"size={size}")


def test_dynamic_slice_in_dim_is_expectation_over_clamped_starts():
    x = jnp.asarray(RNG.normal(size=(7, 2)))
    p = jax.nn.softmax(jnp.asarray(RNG.normal(size=7)))
    got = sj.dynamic_slice_in_dim(x, p, 3)
    want = sum(p[i] * jax.lax.dynamic_slice_in_dim(x, i, 3) for i in range(7))
    # A sum of signed terms: an entry near zero has only absolute accuracy.
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_dynamic_slice_matches_lax():
    x = jnp.arange(12.0).reshape(3, 4)
    starts = [one_hot(1, 3), one_hot(2, 4)]
    np.testing.assert_array_equal(sj.dynamic_slice(x, starts, (2, 2)), [[6.0, 7.0], [10.0, 11.0]])
    # 2-D example: start (2, 3) is clamped to (1, 2) as in JAX
    got = sj.dynamic_slice(x, [one_hot(2, 3), one_hot(3, 4)], (2, 2))
    np.testing.assert_array_equal(got, jax.lax.dynamic_slice(x, (2, 3), (2, 2)))
    np.testing.assert_array_equal(got, [[6.0, 7.0], [10.0, 11.0]])
    y = jnp.asarray(RNG.normal(size=(2, 3, 4)), jnp.float32)
    starts = jnp.asarray(list(itertools.product(range(2), range(3), range(4))))
    soft = [one_hot(starts[:, d], n, jnp.float32) for d, n in enumerate(y.shape)]
    got = jax.jit(jax.vmap(lambda a, b, c: sj.dynamic_slice(y, [a, b, c], (1, 2, 3))))(*soft)
    want = jax.jit(jax.vmap(lambda i: jax.lax.dynamic_slice(y, i, (1, 2, 3))))(starts)
    np.testing.assert_array_equal(got, want)


def test_dynamic_slice_errors():
    x = jnp.arange(5.0)
    with pytest.raises(ValueError, match=r"slice_size must satisfy 0 < slice_size <= 5, got 6"):
        sj.dynamic_slice_in_dim(x, one_hot(0, 5), 6)
    with pytest.raises(ValueError, match="slice_size must be >= 1"):
        sj.dynamic_slice_in_dim(x, one_hot(0, 5), 0)
    with pytest.raises(ValueError, match=r"soft_start_index must be 1-D of length 5.*\(4,\)"):
        sj.dynamic_slice_in_dim(x, one_hot(0, 4), 2)
    y = jnp.ones((3, 4))
    with pytest.raises(ValueError, match="one soft start index and one slice size per axis"):
        sj.dynamic_slice(y, [one_hot(0, 3)], (1, 1))
    with pytest.raises(ValueError, match=r"soft_start_indices\[1\] must be 1-D of length 4"):
        sj.dynamic_slice(y, [one_hot(0, 3), one_hot(0, 3)], (1, 1))
    with pytest.raises(ValueError, match=r"slice_sizes\[0\] must satisfy"):
        sj.dynamic_slice(y, [one_hot(0, 3), one_hot(0, 4)], (4, 1))


# --- transforms -----------------------------------------------------------------------


def _selection_fns():
    def fns(p3, p4):  # p3, p4: soft indices over 3 and 4 positions
        x2 = (jnp.arange(12.0).reshape(3, 4) / 7).astype(p3.dtype)
        return [
            sj.where(p4, x2, 1 - x2),
            sj.take_along_axis(x2, jnp.stack([p4, p4[::-1]])[None].repeat(3, 0), axis=1),
            sj.take(x2, jnp.stack([p4, 1 - p4]), axis=1),
            sj.choose(jnp.stack([p3] * 4), x2),
            sj.dynamic_index_in_dim(x2, p3, axis=0, keepdims=False),
            sj.dynamic_slice_in_dim(x2, p4, 3, axis=1),
            sj.dynamic_slice(x2 * x2, [p3, p4], (2, 3)),
        ]

    return fns


@jax.jit
def _transforms(p3, p4):
    fns = _selection_fns()

    def total(p3, p4):
        return sum(jnp.sum(o * o) for o in fns(p3, p4))

    vm = jax.vmap(lambda a, b: jnp.stack([jnp.sum(o) for o in fns(a, b)]))
    batch = vm(jnp.stack([p3, p3]), jnp.stack([p4, p4]))
    g = jax.grad(total, argnums=(0, 1))(p3, p4)
    t = jax.jvp(total, (p3, p4), (jnp.ones_like(p3), jnp.ones_like(p4)))[1]
    h = jax.hessian(total)(p3, p4)
    return batch, g, t, h


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.bfloat16])
def test_transforms_finite(dtype):
    p3 = jnp.asarray([0.2, 0.5, 0.3], dtype)
    p4 = jnp.asarray([0.1, 0.2, 0.3, 0.4], dtype)
    for leaf in jax.tree_util.tree_leaves(_transforms(p3, p4)):
        assert np.all(np.isfinite(np.asarray(leaf, np.float64)))
        assert leaf.dtype == dtype


def test_check_grads():
    p3 = jnp.array([0.2, 0.5, 0.3])
    p4 = jnp.array([0.1, 0.2, 0.3, 0.4])
    fns = _selection_fns()

    def f(p3, p4):
        return jnp.concatenate([jnp.ravel(o) for o in fns(p3, p4)])

    check_grads(jax.jit(f), (p3, p4), order=1, modes=("fwd", "rev"))
    x = jnp.asarray(RNG.normal(size=(4, 3)))
    check_grads(jax.jit(lambda x: sj.dynamic_slice_in_dim(x, p4, 2)), (x,), order=1, modes=("fwd", "rev"))
