"""NaN-aware statistics: ``sj.nanmax``, ``nanmin``, ``nanargmax``, ``nanargmin``,
``nanquantile``, ``nanmedian``, ``nanpercentile`` and their ``_st`` twins.

* hard mode: ``jax.numpy``'s result bit for bit (values, dtype, shape);
* a row without NaN: the non-NaN operator's result bit for bit (values and
  gradients, under ``jit`` with the suite's XLA flags; every method);
* a row with NaN: the operator applied to its valid entries alone, to a
  tolerance per method (see ``SUBSET_TOL``);
* NaN entries: zero weight and zero gradient; all-NaN rows: NaN (an
  all-zero SoftIndex row) with zero, finite gradients.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

METHODS = ("softsort", "neuralsort", "ot", "sorting_network", "fast_soft_sort", "smooth_sort")
INDEX_METHODS = ("softsort", "neuralsort", "ot", "sorting_network")
QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")
# One soft mode per method for the cheaper tiers (every mode in the slow sweep).
MODE = {
    "softsort": "smooth",
    "neuralsort": "c1",
    "ot": "c0",
    "sorting_network": "c2",
    "fast_soft_sort": "c1",
    "smooth_sort": "smooth",
}
# fast_soft_sort's sort is hard below softness ~1 on short rows (see its docs).
SOFTNESS = {"fast_soft_sort": 3.0, "smooth_sort": 0.05}
# Largest deviation from the operator on the valid entries alone (float64,
# float32): rounding for the exact methods, the solver tolerance for ot,
# the documented approximation for smooth_sort (see docs/api/nan-stats.md).
SUBSET_TOL = {
    "softsort": (1e-14, 1e-6),
    "neuralsort": (1e-12, 5e-5),
    "ot": (2e-5, 2e-5),
    "sorting_network": (1e-14, 1e-6),
    "fast_soft_sort": (1e-14, 1e-6),
    "smooth_sort": (2e-3, 2e-3),
}


def _modes(method):
    return ("smooth",) if method == "smooth_sort" else ("smooth", "c0", "c1", "c2")


def _same(a, b, name=""):
    """Bit-for-bit equality (NaN equal to NaN), dtype and shape."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (name, a.dtype, b.dtype, a.shape, b.shape)
    assert np.array_equal(a, b, equal_nan=True), (name, a, b)
    assert np.array_equal(np.signbit(a), np.signbit(b)), name


def _with_nans(shape, seed, dtype=np.float64):
    """Random rows (last axis) with scattered NaN, one all-NaN row, one row without NaN."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    x[rng.random(shape) < 0.3] = np.nan
    flat = x.reshape(-1, shape[-1])
    flat[0] = np.nan
    flat[1] = rng.normal(size=shape[-1])
    return flat.reshape(shape).astype(dtype)


def _hard_inputs():
    x = _with_nans((5, 7), 0, np.float32)
    x[2, 1:4] = 0.5  # ties
    x[3, 0], x[3, 5] = np.inf, -np.inf
    x[:, 6] = np.nan  # an all-NaN column for axis=0
    return (x, _with_nans((3, 4, 5), 1))


# ----------------------------------------------------------------------------- hard mode


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_hard_mode_is_jax_numpy(axis, keepdims):
    levels = (0.3, jnp.array([0.0, 0.25, 0.5, 1.0]))
    for x in _hard_inputs():
        kw = dict(axis=axis, keepdims=keepdims)
        _same(sj.nanmax(x, mode="hard", **kw), jnp.nanmax(x, **kw))
        _same(sj.nanmin(x, mode="hard", **kw), jnp.nanmin(x, **kw))
        _same(sj.nanmedian(x, mode="hard", **kw), jnp.nanmedian(x, **kw))
        for qm in QUANTILE_METHODS:
            for q in levels:
                _same(
                    sj.nanquantile(x, q, mode="hard", quantile_method=qm, **kw),
                    jnp.nanquantile(x, q, method=qm, **kw),
                )
                _same(
                    sj.nanpercentile(x, 100 * q, mode="hard", quantile_method=qm, **kw),
                    jnp.nanpercentile(x, 100 * q, method=qm, **kw),
                )
        n = x.size if axis is None else x.shape[axis]
        for soft, hard in ((sj.nanargmax, jnp.nanargmax), (sj.nanargmin, jnp.nanargmin)):
            expected = jax.nn.one_hot(hard(x, **kw), n, dtype=x.dtype)
            _same(soft(x, mode="hard", **kw), expected)
    # Integer input: no NaN, jnp's integer result.
    ints = np.arange(12).reshape(3, 4) % 5
    _same(sj.nanmax(ints, axis=1, mode="hard"), jnp.nanmax(ints, axis=1))
    _same(sj.nanargmin(ints, axis=0, mode="hard"), jax.nn.one_hot(jnp.nanargmin(ints, axis=0), 3))


def test_hard_all_nan_slice_and_log_probs():
    x = jnp.array([[jnp.nan, jnp.nan, jnp.nan], [1.0, jnp.nan, 3.0]])
    # jnp.nanargmax gives -1 for an all-NaN slice: its one-hot is a zero row.
    np.testing.assert_array_equal(sj.nanargmax(x, axis=1, mode="hard"), [[0, 0, 0], [0, 0, 1]])
    logp = sj.nanargmax(x, axis=1, mode="hard", return_log_probs=True, log_prob_eps=0.1)
    assert np.all(np.isneginf(logp[0])) and np.isneginf(logp[1, 1])
    np.testing.assert_allclose(np.exp(logp[1]), [0.1 / 1.1, 0, 1 / 1.1], rtol=1e-6)
    assert np.isnan(sj.nanmax(x, axis=1, mode="hard")[0])


# ----------------------------------------------------------------------------- rows without NaN


def _bundle(method, mode, x):
    """Every NaN-aware operator and its non-NaN twin on ``x`` (values and two gradients)."""
    kw = dict(axis=1, softness=SOFTNESS.get(method, 0.3), mode=mode, method=method)
    q = jnp.array([0.2, 0.5, 0.9])
    pairs = {
        "max": (sj.nanmax(x, **kw), sj.max(x, **kw)),
        "min": (sj.nanmin(x, **kw), sj.min(x, **kw)),
        "quantile": (sj.nanquantile(x, 0.3, **kw), sj.quantile(x, 0.3, **kw)),
        "quantiles": (
            sj.nanquantile(x, q, quantile_method="midpoint", **kw),
            sj.quantile(x, q, quantile_method="midpoint", **kw),
        ),
        "median": (sj.nanmedian(x, **kw), sj.median(x, **kw)),
        "percentile": (
            sj.nanpercentile(x, 70.0, quantile_method="nearest", **kw),
            sj.percentile(x, 70.0, quantile_method="nearest", **kw),
        ),
        "grad_max": tuple(jax.grad(lambda x, f=f: jnp.sum(f(x, **kw) ** 2))(x) for f in (sj.nanmax, sj.max)),
        "grad_quantile": tuple(
            jax.grad(lambda x, f=f: jnp.sum(f(x, 0.4, **kw) ** 2))(x) for f in (sj.nanquantile, sj.quantile)
        ),
    }
    if method in INDEX_METHODS:
        pairs["argmax"] = (sj.nanargmax(x, **kw), sj.argmax(x, **kw))
        pairs["argmin"] = (sj.nanargmin(x, **kw), sj.argmin(x, **kw))
    return pairs


def _equal_to_rounding(a, b, name=""):
    """Same dtype and shape; equal to float64 rounding (NaN equal to NaN).

    The two operators run the same computation, but XLA may fuse the NaN-aware
    program (its extra masking) differently from the plain one, so results can
    differ in the last bits.
    """
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (name, a.dtype, b.dtype, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("method", METHODS)
def test_rows_without_nan_are_the_operator(method):
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(4, 8)))
    for name, (got, want) in jax.jit(lambda x: _bundle(method, MODE[method], x))(x).items():
        _equal_to_rounding(got, want, name)
    if method == "ot":
        return  # the transport solvers iterate over the whole batch: rows are not independent
    # In a batch with NaN rows, the rows without NaN are unchanged too.
    mixed = np.array(x)
    mixed[1, 3] = np.nan
    mixed[2, :] = np.nan
    clean = np.array([0, 3])
    got = jax.jit(lambda x: _bundle(method, MODE[method], x))(jnp.asarray(mixed))
    want = jax.jit(lambda x: _bundle(method, MODE[method], x))(jnp.asarray(np.nan_to_num(mixed)))
    for name in got:
        rows = (slice(None), clean) if name == "quantiles" else (clean,)  # levels lead
        _equal_to_rounding(got[name][0][rows], want[name][1][rows], name)


# ----------------------------------------------------------------------------- rows with NaN


def _subset_case(dtype):
    """Three rows of 8 with two NaN each (at different places) and the rows without them."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 8))
    holes = np.array([[1, 5], [0, 7], [3, 4]])
    full = x.copy()
    np.put_along_axis(full, holes, np.nan, axis=1)
    valid = ~np.isnan(full)
    return jnp.asarray(full, dtype), jnp.asarray(x[valid].reshape(3, 6), dtype), valid


def _check_subset(method, mode, dtype, standardize=True):
    full, kept, valid = _subset_case(dtype)
    kw = dict(axis=1, softness=SOFTNESS.get(method, 0.3), mode=mode, method=method, standardize=standardize)
    q = jnp.array([0.1, 0.5, 0.9])

    @jax.jit
    def both(full, kept):
        out = {
            "max": (sj.nanmax(full, **kw), sj.max(kept, **kw)),
            "min": (sj.nanmin(full, **kw), sj.min(kept, **kw)),
            "quantile": (sj.nanquantile(full, q, **kw), sj.quantile(kept, q, **kw)),
            "median": (sj.nanmedian(full, **kw), sj.median(kept, **kw)),
        }
        if method in INDEX_METHODS:
            out["argmax"] = (sj.nanargmax(full, **kw), sj.argmax(kept, **kw))
        return out

    tol = SUBSET_TOL[method][0 if dtype == jnp.float64 else 1]
    for name, (got, want) in both(full, kept).items():
        result = np.asarray(got)
        if name == "argmax":
            assert np.all(result[~valid] == 0), "NaN entries get exactly zero weight"
            result = result[valid].reshape(want.shape)
        np.testing.assert_allclose(result, np.asarray(want), atol=tol, rtol=0, err_msg=name)


@pytest.mark.parametrize("method", METHODS)
def test_rows_with_nan_are_the_operator_on_the_valid_entries(method):
    _check_subset(method, MODE[method], jnp.float64)
    _check_subset(method, MODE[method], jnp.float32)


@pytest.mark.parametrize("method", ["softsort", "neuralsort", "ot", "fast_soft_sort"])
def test_valid_entries_unstandardized(method):
    _check_subset(method, "smooth", jnp.float64, standardize=False)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_valid_entries_every_mode_and_dtype(method):
    for mode in _modes(method):
        for dtype in (jnp.float64, jnp.float32):
            _check_subset(method, mode, dtype)
            _check_subset(method, mode, dtype, standardize=False)


def test_ot_sentinels_have_their_own_anchor():
    # k = 0 and a single valid entry fill a shared anchor with the sentinels'
    # mass exactly; with an anchor of their own Sinkhorn converges as usual.
    x = jnp.array(
        [[0.4, jnp.nan, -1.0, 2.0, jnp.nan, 1.3], [jnp.nan, 0.7, jnp.nan, jnp.nan, jnp.nan, jnp.nan]]
    )
    kw = dict(axis=1, softness=0.3, method="ot")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        low = jax.jit(lambda x: sj.nanquantile(x, 0.0, **kw))(x)
        top = jax.jit(lambda x: sj.nanargmax(x, **kw))(x)
        jax.effects_barrier()
    assert not [w for w in caught if issubclass(w.category, sj.OTConvergenceWarning)]
    np.testing.assert_allclose(
        low[0], sj.quantile(jnp.array([0.4, -1.0, 2.0, 1.3]), 0.0, softness=0.3, method="ot"), atol=2e-5
    )
    np.testing.assert_allclose(low[1], 0.7, rtol=1e-12)
    np.testing.assert_allclose(top[1], [0, 1, 0, 0, 0, 0], atol=1e-12)


@pytest.mark.parametrize(("name", "mode"), [("nanargmax", "smooth"), ("nanquantile", "c1")])
def test_ot_rows_without_nan_are_unaffected_by_nan_rows_float32(name, mode):
    # A row without NaN is the operator's own problem even in a batch with
    # NaN rows: its float32 gradient matches float64 to rounding (solved with
    # an empty extra anchor it was off by up to 1e-2).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 6))
    x[0, 2] = x[4, 1] = np.nan
    weights = np.cos(np.arange(36.0)).reshape(6, 6)

    def loss(x):
        kw = dict(axis=-1, softness=0.3, method="ot", mode=mode)
        out = sj.nanquantile(x, 0.3, **kw) if name == "nanquantile" else sj.nanargmax(x, **kw)
        out = out[..., None] if out.ndim == 1 else out
        return jnp.sum(jnp.asarray(weights[:, : out.shape[-1]], x.dtype) * out)

    ref = np.asarray(jax.grad(loss)(jnp.asarray(x, jnp.float64)))
    got = np.asarray(jax.grad(loss)(jnp.asarray(x, jnp.float32)))
    full = ~np.isnan(x).any(axis=-1)
    np.testing.assert_allclose(got[full], ref[full], atol=1e-5 * np.abs(ref).max())


def test_sorting_network_across_network_sizes_is_close():
    # 8 entries with 5 NaN: the valid 3 pad to 4 wires, the row to 8; the extra
    # merge layers move the result by less than the relaxation itself.
    x = jnp.array([0.4, jnp.nan, -1.0, jnp.nan, jnp.nan, 1.3, jnp.nan, jnp.nan])
    kw = dict(softness=0.1, method="sorting_network")
    got, want = sj.nanmax(x, **kw), sj.max(jnp.array([0.4, -1.0, 1.3]), **kw)
    assert abs(float(got - want)) < abs(float(want - 1.3)) + 1e-6


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("method", ["softsort", "neuralsort", "sorting_network", "fast_soft_sort"])
def test_nan_entries_get_zero_gradient_and_all_nan_rows_are_nan(method):
    x = jnp.asarray(_with_nans((4, 6), 7))
    mode = MODE[method]
    kw = dict(axis=1, softness=SOFTNESS.get(method, 0.3), mode=mode, method=method)
    ops = {
        "max": lambda x: sj.nanmax(x, **kw),
        "min": lambda x: sj.nanmin(x, **kw),
        "quantile": lambda x: sj.nanquantile(x, jnp.array([0.25, 0.75]), **kw),
        "median": lambda x: sj.nanmedian(x, **kw),
    }

    @jax.jit
    def values_and_grads(x):
        out = {}
        for name, f in ops.items():
            value = f(x)
            # Only the finite values enter the loss; the all-NaN row is NaN.
            grad = jax.grad(lambda x, f=f: jnp.sum(jnp.where(jnp.isnan(f(x)), 0, f(x))))(x)
            out[name] = (value, grad)
        if method in INDEX_METHODS:
            out["argmax"] = (
                sj.nanargmax(x, **kw),
                jax.grad(lambda x: jnp.sum(sj.nanargmax(x, **kw) ** 2))(x),
            )
        return out

    nan = np.isnan(np.asarray(x))
    for name, (out, grad_out) in values_and_grads(x).items():
        grad, value = np.asarray(grad_out), np.asarray(out)
        assert np.all(np.isfinite(grad)), name
        assert np.all(grad[nan] == 0), name
        if name == "argmax":
            assert np.all(value[0] == 0) and np.all(value[nan] == 0)
            np.testing.assert_allclose(value[1:].sum(-1), 1, rtol=1e-12)
        else:
            assert np.all(np.isnan(value[..., 0])) and np.all(np.isfinite(value[..., 1:])), name


def test_all_nan_rows_soft_index_and_log_probs():
    x = jnp.array([[jnp.nan] * 4, [0.5, jnp.nan, -1.0, 2.0]])
    p = sj.nanargmin(x, axis=1)
    np.testing.assert_array_equal(p[0], 0)
    logp = sj.nanargmax(x, axis=1, return_log_probs=True)
    assert np.all(np.isneginf(logp[0])) and np.isneginf(logp[1, 1])
    np.testing.assert_allclose(np.exp(logp[1]).sum(), 1, rtol=1e-12)
    clipped = sj.nanargmax(x, axis=1, mode="c0", return_log_probs=True, log_prob_eps=0.05)
    assert np.isneginf(clipped[1, 1]) and np.all(np.exp(clipped[1, [0, 2, 3]]) >= 0.05 / 1.2)

    def loss(x):
        logp = sj.nanargmax(x, axis=1, return_log_probs=True)
        return jnp.sum(jnp.where(jnp.isneginf(logp), 0, logp))

    grad = jax.grad(loss)(x)
    assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[np.isnan(x)] == 0)


@pytest.mark.parametrize(
    "name, method",
    [
        ("nanmax", "softsort"),
        ("nanquantile", "neuralsort"),
        ("nanmin", "fast_soft_sort"),
        ("nanmedian", "sorting_network"),
        ("nanmax", "smooth_sort"),
    ],
)
def test_check_grads_with_fixed_nan_positions(name, method):
    rng = np.random.default_rng(11)
    template = rng.normal(size=(2, 6))
    template[0, [1, 4]] = np.nan
    template[1, 2] = np.nan
    valid = ~np.isnan(template)
    fn = getattr(sj, name)
    args = (0.35,) if name == "nanquantile" else ()
    modes = ("smooth",) if method == "smooth_sort" else ("smooth", "c1", "c2")
    for mode in modes:

        @jax.jit
        def f(v, mode=mode):
            x = jnp.asarray(template).at[valid].set(v)
            return fn(x, *args, axis=1, softness=SOFTNESS.get(method, 0.4), mode=mode, method=method)

        check_grads(f, (jnp.asarray(template[valid]),), order=1, modes=("fwd", "rev"), atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- extremes


def _extreme_finite(method, dtype, magnitude, softness, standardize):
    rng = np.random.default_rng(13)
    x = rng.uniform(-1, 1, size=(3, 6))
    x[0, [1, 4]] = np.nan
    x[1] = np.nan
    x = jnp.asarray(x * magnitude, dtype)
    kw = dict(axis=1, softness=softness, mode=MODE[method], method=method, standardize=standardize)

    @jax.jit  # one executable per case (eager calls compile every primitive)
    def values_and_grads(x):
        out = []
        for f in (lambda x: sj.nanmax(x, **kw), lambda x: sj.nanquantile(x, 0.3, **kw)):

            def loss(x, f=f):
                value = f(x)
                return jnp.sum(jnp.where(jnp.isnan(value), 0, value / jnp.asarray(magnitude, dtype)))

            out.append((f(x), jax.grad(loss)(x)))
        return out

    nan = np.isnan(np.asarray(x, np.float64))
    for out, grad_out in values_and_grads(x):
        value, grad = np.asarray(out, np.float64), np.asarray(grad_out, np.float64)
        assert np.all(np.isfinite(value[[0, 2]])) and np.isnan(value[1])
        assert np.all(np.isfinite(grad)) and np.all(grad[nan] == 0)


def test_extreme_magnitudes_and_softness_are_finite():
    for dtype in (jnp.float32, jnp.bfloat16):
        big = 0.9 * float(jnp.finfo(dtype).max)
        _extreme_finite("neuralsort", dtype, big, 1e-6, True)
        _extreme_finite("softsort", dtype, 1e-30, 1e3, False)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_extremes_every_dtype_and_method(method):
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float64):
        for magnitude in (1e-30, 1.0, 0.9 * float(jnp.finfo(dtype).max)):
            for softness in (1e-6, 1e3):
                for standardize in (True, False):
                    _extreme_finite(method, dtype, magnitude, softness, standardize)


# ----------------------------------------------------------------------------- transforms and shapes


def test_soft_shapes_match_jax_numpy():
    x = jnp.asarray(_with_nans((3, 4, 5), 17))
    q = jnp.array([0.1, 0.9])
    for axis in (None, 0, -1):
        for keepdims in (False, True):
            kw = dict(axis=axis, keepdims=keepdims)
            assert sj.nanmax(x, **kw).shape == jnp.nanmax(x, **kw).shape
            assert sj.nanquantile(x, q, **kw).shape == jnp.nanquantile(x, q, **kw).shape
            assert sj.nanpercentile(x, 50.0, **kw).shape == jnp.nanpercentile(x, 50.0, **kw).shape
            n = x.size if axis is None else x.shape[axis]
            assert sj.nanargmin(x, **kw).shape == (*jnp.nanargmin(x, **kw).shape, n)


def test_jit_and_vmap():
    x = jnp.asarray(_with_nans((4, 6), 19))
    stacked = jnp.stack([x, 2 * x - 1])
    for f in (
        lambda x: sj.nanmax(x, axis=-1, mode="c1"),
        lambda x: sj.nanquantile(x, jnp.array([0.3, 0.6]), axis=-1, method="softsort"),
        lambda x: sj.nanargmax(x, axis=-1, method="neuralsort"),
    ):
        eager = jnp.stack([f(x), f(2 * x - 1)])
        np.testing.assert_allclose(jax.jit(jax.vmap(f))(stacked), eager, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(jax.vmap(f)(stacked), eager, rtol=1e-12, atol=1e-12)


def test_invalid_arguments_raise():
    x = jnp.array([1.0, jnp.nan, 2.0])
    with pytest.raises(ValueError, match="q must be in"):
        sj.nanquantile(x, 1.5)
    with pytest.raises(ValueError, match="p must be in"):
        sj.nanpercentile(x, -1.0, mode="hard")
    with pytest.raises(ValueError, match="Invalid method"):
        sj.nanargmax(x, method="fast_soft_sort")
    with pytest.raises(ValueError, match="Invalid mode"):
        sj.nanmax(x, mode="soft")


def test_straight_through_twins():
    x = jnp.array([0.3, jnp.nan, 2.0, 0.7])
    for name, args in (
        ("nanmax", ()),
        ("nanargmin", ()),
        ("nanquantile", (0.5,)),
        ("nanpercentile", (30.0,)),
    ):
        st, soft = getattr(sj, f"{name}_st"), getattr(sj, name)
        _same(st(x, *args), soft(x, *args, mode="hard"))
        jac_st = jax.jacobian(lambda x, f=st, a=args: f(x, *a, mode="c1"))(x)
        jac_soft = jax.jacobian(lambda x, f=soft, a=args: f(x, *a, mode="c1"))(x)
        np.testing.assert_allclose(jac_st, jac_soft, rtol=1e-6, atol=1e-9)
        assert np.all(np.asarray(jac_st)[..., 1] == 0)
