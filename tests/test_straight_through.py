"""Straight-through estimation: splice, grad_replace, st and the *_st operators.

Forward values are compared bit for bit (``view`` as integers, so ``-0.0`` vs
``+0.0`` counts); gradients against the soft operator's gradient in float64.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st_
from hypothesis.extra import numpy as hnp
from jax import lax

import softjax as sj
from softjax._src.steps import sigmoidal, softrelu
from softjax._src.straight_through import make_st, splice

sg = lax.stop_gradient


def assert_bits_equal(actual, expected):
    """Same dtype, same shape, same bit patterns (NaN payloads aside)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    both_nan = np.zeros(actual.shape, bool)
    if actual.dtype.kind in "fc":
        both_nan = np.isnan(actual) & np.isnan(expected)
    int_view = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[actual.dtype.itemsize]
    differ = (actual.view(int_view) != expected.view(int_view)) & ~both_nan
    assert not differ.any(), f"{int(differ.sum())} entries differ: {actual[differ]} vs {expected[differ]}"


def relu_like(x, softness=0.1, mode="smooth", gated=False):
    """A user-level operator with the operators' (x, softness, mode, ...) layout."""
    if mode == "hard":
        return jax.nn.relu(x)
    return softrelu(x, softness, mode, gated)


def step_like(x, softness=0.1, mode="smooth"):
    if mode == "hard":
        return jnp.heaviside(x, 0.5)
    return sigmoidal(x, softness, mode)


X64 = jnp.array([-1.3, -0.2, -0.0, 0.0, 0.04, 0.5, 2.0])


# ----------------------------------------------------------------------------- splice


@pytest.mark.parametrize("use_jit", [False, True])
def test_p10_relu_float32_bit_exact(use_jit):
    """relu at softness 10 on 100 000 float32 normals, zero mismatches (no rounding)."""
    x = jax.random.normal(jax.random.PRNGKey(0), (100_000,), jnp.float32)

    def spliced(x):
        return splice(jax.nn.relu(x), softrelu(x, 10.0))

    def prior(x):  # the prior formula sg(f - b) + b, to show the test can fail
        f, b = jax.nn.relu(x), softrelu(x, 10.0)
        return sg(f - b) + b

    if use_jit:
        spliced, prior = jax.jit(spliced), jax.jit(prior)
    assert_bits_equal(spliced(x), jax.nn.relu(x))
    assert int(jnp.sum(prior(x) != jax.nn.relu(x))) > 10_000
    relu_st = jax.jit(sj.relu_st) if use_jit else sj.relu_st
    assert_bits_equal(relu_st(x, 10.0), jax.nn.relu(x))
    g = jax.jit(jax.grad(lambda x: sj.relu_st(x, 10.0).sum()))(x)
    np.testing.assert_allclose(g, jax.nn.sigmoid(x / 10.0), rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_splice_keeps_signed_zero_and_specials(dtype):
    # sg(f) + (b - sg(b)) would turn round(-0.3) = -0.0 into +0.0.
    f = jnp.round(jnp.array([-0.3, 0.2, jnp.inf, -jnp.inf, jnp.nan, 1.5], dtype))
    b = jnp.array([0.7, -0.1, jnp.inf, 3.0, 0.5, jnp.nan], dtype)
    out = splice(f, b)
    assert_bits_equal(out, f)
    assert_bits_equal(jax.jit(splice)(f, b), f)
    assert np.signbit(np.asarray(out)[0])


_splice_jit = jax.jit(splice)


@given(
    dtype=st_.sampled_from([np.float32, np.float64]),
    data=st_.data(),
)
def test_splice_value_is_forward_bits_for_any_floats(dtype, data):
    shape = data.draw(st_.sampled_from([(), (7,), (2, 3)]))  # few shapes: few compilations
    floats = hnp.arrays(dtype, shape, elements=st_.floats(width=np.dtype(dtype).itemsize * 8))
    f, b = data.draw(floats), data.draw(floats)
    assert_bits_equal(splice(f, b), f)
    assert_bits_equal(_splice_jit(f, b), f)
    # derivative: d/dt splice(f, b + t) = 1 where b is finite, else 0
    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    tangent = jax.jvp(lambda t: splice(jnp.asarray(f), b + t), (zero,), (one,))[1]
    np.testing.assert_array_equal(tangent, np.isfinite(b).astype(dtype))


def test_splice_gradient_is_backward_gradient_all_orders():
    def y(x):
        return splice(jnp.round(x), jnp.sin(x) * x)

    def soft(x):
        return jnp.sin(x) * x

    def value_of_jvp(x):  # differentiating the JVP rule keeps the primal straight-through
        return jax.jvp(y, (x,), (1.0,))[0]

    @jax.jit
    def derivatives(x):
        out = {"value": y(x), "jvp": jax.jvp(y, (x,), (2.0,))}
        for name, d in [
            ("grad", jax.grad),
            ("jacfwd", jax.jacfwd),
            ("hessian", jax.hessian),
            ("third", lambda f: jax.grad(jax.grad(jax.grad(f)))),
        ]:
            out[name] = (d(y)(x), d(soft)(x))
        out["value_of_jvp"] = (jax.grad(value_of_jvp)(x), jax.grad(soft)(x))
        return out

    out = derivatives(0.7)
    assert out["value"] == 1.0 and out["jvp"][0] == 1.0
    np.testing.assert_allclose(out["jvp"][1], 2.0 * out["grad"][1], rtol=1e-14)
    for name in ("grad", "jacfwd", "hessian", "third", "value_of_jvp"):
        np.testing.assert_allclose(*out[name], rtol=1e-14, err_msg=name)
    assert jax.vmap(jax.grad(y))(jnp.array([0.7])).shape == (1,)


def test_splice_nonfinite_backward_gives_zero_derivative_not_nan():
    # f and b the same infinity (prior formula: inf - inf = NaN).
    both_inf = lambda x: splice(-jnp.inf * jnp.ones_like(x), x - jnp.inf)
    assert both_inf(1.0) == -jnp.inf
    assert jax.grad(both_inf)(1.0) == 0.0
    assert jax.jvp(both_inf, (1.0,), (1.0,))[1] == 0.0
    # Finite hard value, non-finite soft value: value f, derivative 0.
    b_inf = lambda x: splice(jnp.round(x), x + jnp.inf)
    assert b_inf(0.7) == 1.0 and jax.grad(b_inf)(0.7) == 0.0
    b_nan = lambda x: splice(jnp.round(x), x + jnp.nan)
    assert b_nan(0.7) == 1.0 and jax.grad(b_nan)(0.7) == 0.0
    # NaN in the hard value propagates (NaN in -> NaN out).
    assert jnp.isnan(splice(jnp.nan, 1.0))


def test_splice_pytrees_none_ints_promotion_broadcast():
    onehot = jax.nn.one_hot(2, 4)
    out = splice({"v": 1.0, "i": onehot, "n": None}, {"v": 2.0, "i": None, "n": 3.0})
    assert out["n"] is None and out["i"] is onehot and out["v"] == 1.0
    # integer pairs carry no derivative: returned as is
    i = jnp.array([1, 2])
    assert splice(i, i + 1) is i
    # integer hard value, float soft value: promoted, value exact
    out = splice(jax.nn.relu(jnp.array([-2, 3])), softrelu(jnp.array([-2.0, 3.0]), 0.1))
    assert out.dtype == jnp.float64 and out.tolist() == [0.0, 3.0]
    # float32 forward with float64 backward: common dtype, exact value
    f32 = jnp.float32(0.1)
    assert splice(f32, jnp.float64(0.3)) == jnp.float64(f32)
    # broadcasting to the common shape
    assert splice(jnp.float64(1.0), jnp.zeros(3)).shape == (3,)
    with pytest.raises(ValueError, match="same pytree structure"):
        splice((1.0, 2.0), (1.0,))


# ----------------------------------------------------------------------------- grad_replace


def test_grad_replace_spec_example_and_signature():
    @sj.grad_replace
    def f(x, *, forward):
        return x if forward else 2 * x

    assert f(3.0) == 3.0
    assert jax.grad(f)(3.0) == 2.0
    assert jax.jit(jax.grad(f))(3.0) == 2.0
    assert str(inspect.signature(f)) == "(x)"
    assert f.__name__ == "f"
    with pytest.raises(TypeError, match="'forward' is set by grad_replace"):
        f(3.0, forward=True)


def test_grad_replace_pytree_and_kwargs_function():
    def fn(x, **kwargs):
        if kwargs["forward"]:
            return {"a": jnp.round(x), "b": None}
        return {"a": x**2, "b": x}

    g = sj.grad_replace(fn)
    assert g(1.3) == {"a": 1.0, "b": None}
    np.testing.assert_allclose(jax.grad(lambda x: g(x)["a"])(1.3), 2.6, rtol=1e-15)


def test_grad_replace_rejects_functions_without_forward():
    with pytest.raises(TypeError, match="'forward' keyword argument"):
        sj.grad_replace(lambda x: x)
    with pytest.raises(TypeError, match="passed by keyword"):
        sj.grad_replace(lambda x, forward, /: x)


# ----------------------------------------------------------------------------- st on user functions


def test_st_forward_hard_gradient_soft_float64():
    st_relu = sj.st(relu_like)
    w = jnp.arange(7.0)

    @jax.jit
    def run(x):
        return {
            mode: (
                st_relu(x, 0.3, mode),
                jax.grad(lambda x, mode=mode: st_relu(x, 0.3, mode) @ w)(x),
                jax.grad(lambda x, mode=mode: relu_like(x, 0.3, mode) @ w)(x),
            )
            for mode in ("smooth", "c0", "c1", "c2")
        }

    for mode, (value, g, g_soft) in run(X64).items():
        assert_bits_equal(value, jax.nn.relu(X64))
        np.testing.assert_allclose(g, g_soft, rtol=0, atol=1e-12, err_msg=mode)
    assert_bits_equal(st_relu(X64, mode="c1"), jax.nn.relu(X64))  # eager


def test_st_signature_and_metadata():
    st_relu = sj.st(relu_like)
    assert inspect.signature(st_relu) == inspect.signature(relu_like)
    assert st_relu.__name__ == "relu_like" and st_relu.__doc__ == relu_like.__doc__


def test_p6_positional_arguments_after_mode():
    st_relu = sj.st(relu_like)
    x = jnp.array([-0.05, 0.03])

    @jax.jit
    def grads(x):
        # (x, softness, mode, gated) all positional: gated=True must arrive as gated.
        return (
            st_relu(x, 0.1, "c1", True),
            jax.grad(lambda x: st_relu(x, 0.1, "c1", True).sum())(x),
            jax.grad(lambda x: relu_like(x, 0.1, "c1", True).sum())(x),
            jax.grad(lambda x: relu_like(x, 0.1, "c1", False).sum())(x),
        )

    value, g, g_soft, g_ungated = grads(x)
    np.testing.assert_allclose(g, g_soft, atol=1e-15)
    assert not np.allclose(g, g_ungated)
    assert_bits_equal(value, jax.nn.relu(x))


def test_p7_var_positional_before_mode():
    def total(*xs, mode="smooth"):
        return sum(step_like(x, mode=mode) for x in xs)

    st_total = sj.st(total)
    a, b, c = 0.05, -1.0, 0.02
    assert st_total(a, b, c) == 2.0  # b is data, not the mode
    g, g_soft = jax.jit(
        lambda *xs: (
            jax.grad(st_total, argnums=(0, 1, 2))(*xs, mode="c2"),
            jax.grad(total, argnums=(0, 1, 2))(*xs, mode="c2"),
        )
    )(a, b, c)
    np.testing.assert_allclose(g, g_soft, atol=1e-15)


def test_p8_function_without_mode_rejected_at_decoration():
    with pytest.raises(TypeError, match="'mode' keyword argument"):
        sj.st(lambda x, softness=0.1: x)
    with pytest.raises(TypeError, match="ordinary parameter"):
        sj.st(lambda x, *mode: x)
    with pytest.raises(TypeError, match="expects a callable"):
        sj.st(3)

    # Functions taking mode through **kwargs are fine (default "smooth").
    def via_kwargs(x, **kwargs):
        return step_like(x, **kwargs)

    st_kw = sj.st(via_kwargs)
    assert st_kw(0.02) == 1.0
    np.testing.assert_allclose(jax.grad(st_kw)(0.02), jax.grad(step_like)(0.02), atol=1e-15)
    np.testing.assert_allclose(
        jax.grad(st_kw)(0.02, mode="c1"), jax.grad(step_like)(0.02, mode="c1"), atol=1e-15
    )
    assert jax.grad(st_kw)(0.02, mode="hard") == 0.0


def test_p9_required_mode_defaults_to_smooth():
    def required(x, mode):
        return step_like(x, mode=mode)

    st_req = sj.st(required)
    assert st_req(0.02) == 1.0
    np.testing.assert_allclose(jax.grad(st_req)(0.02), jax.grad(step_like)(0.02), atol=1e-15)

    def positional_only(x, mode, /):
        return step_like(x, mode=mode)

    st_po = sj.st(positional_only)
    np.testing.assert_allclose(jax.grad(st_po)(0.02), jax.grad(step_like)(0.02), atol=1e-15)
    np.testing.assert_allclose(jax.grad(st_po)(0.02, "c0"), jax.grad(step_like)(0.02, mode="c0"), atol=1e-15)


def test_st_default_mode_from_signature_and_hard_mode():
    def c1_default(x, softness=0.1, *, mode="c1"):
        return step_like(x, softness, mode)

    st_c1 = sj.st(c1_default)
    np.testing.assert_allclose(jax.grad(st_c1)(0.02), jax.grad(step_like)(0.02, mode="c1"), atol=1e-15)
    # mode="hard": the plain hard function, hard derivative included.
    st_relu = sj.st(relu_like)
    assert jax.grad(st_relu)(0.3, mode="hard") == 1.0
    assert jax.grad(st_relu)(-0.3, mode="hard") == 0.0
    with pytest.raises(TypeError):
        st_relu(0.3, 0.1, "smooth", False, "extra")


def test_make_st_custom_hard_mode():
    def sampler(x, mode="smooth"):
        return jnp.round(x) if mode == "_hard" else x**2

    st_sampler = make_st(sampler, hard_mode="_hard")
    assert st_sampler(1.3) == 1.0
    np.testing.assert_allclose(jax.grad(st_sampler)(1.3), 2.6, rtol=1e-15)


def test_st_under_jit_vmap_grad_jvp():
    st_relu = sj.st(relu_like)
    x = X64[1:]
    assert_bits_equal(jax.jit(st_relu, static_argnames="mode")(x, mode="c2"), jax.nn.relu(x))

    @jax.jit
    def transformed(x):
        summed_st, summed = (lambda x: st_relu(x).sum()), (lambda x: relu_like(x).sum())
        return {
            "vmap_grad": (jax.vmap(jax.grad(st_relu))(x), jax.vmap(jax.grad(relu_like))(x)),
            "jvp": jax.jvp(st_relu, (x,), (jnp.ones_like(x),)),
            "jacfwd_jacrev": (jax.jacfwd(st_relu)(x), jax.jacrev(st_relu)(x)),
            "hessian": (jax.hessian(summed_st)(x), jax.hessian(summed)(x)),
        }

    out = transformed(x)
    g_soft = out["vmap_grad"][1]
    np.testing.assert_allclose(out["vmap_grad"][0], g_soft, atol=1e-15)
    assert_bits_equal(out["jvp"][0], jax.nn.relu(x))
    np.testing.assert_allclose(out["jvp"][1], g_soft, atol=1e-15)
    np.testing.assert_allclose(*out["jacfwd_jacrev"], atol=1e-15)
    np.testing.assert_allclose(jnp.diag(out["jacfwd_jacrev"][0]), g_soft, atol=1e-15)
    np.testing.assert_allclose(*out["hessian"], atol=1e-12)


def test_st_composes_with_st_operators():
    inner = sj.st(relu_like)

    @sj.st
    def outer(x, mode="smooth"):
        return inner(x, mode=mode) @ step_like(x, mode=mode)

    def outer_soft(x, mode="smooth"):
        return relu_like(x, mode=mode) @ step_like(x, mode=mode)

    def outer_hard(x):
        return jax.nn.relu(x) @ jnp.heaviside(x, 0.5)

    def expected(x):  # outer soft pass: inner's value is hard, its derivative soft
        return (sg(jax.nn.relu(x)) + relu_like(x) - sg(relu_like(x))) @ sigmoidal(x, 0.1)

    @jax.jit
    def run(x):
        return {
            "value": (outer(x), outer_hard(x)),
            "grad": (jax.grad(outer)(x), jax.grad(expected)(x), jax.grad(outer_soft)(x)),
            "grad_hard": (jax.grad(outer)(x, mode="hard"), jax.grad(outer_hard)(x)),
        }

    out = run(X64)
    assert out["value"][0] == out["value"][1]
    g, g_expected, g_soft = out["grad"]
    np.testing.assert_allclose(g, g_expected, atol=1e-12)
    assert not np.allclose(g, g_soft)  # stacking differs from one outer st
    np.testing.assert_allclose(*out["grad_hard"], atol=0)  # the hard pass really is hard


# ----------------------------------------------------------------------------- *_st operators

_EW = np.array([-1.3, -0.2, -0.03, 0.0, 0.04, 0.5, 2.0])
_EW_Y = np.array([-1.0, 0.1, -0.03, 0.02, 0.0, 0.5, 1.9])
_ROUND = np.array([-0.7, 0.3, 0.48, 1.5, -1.2, 2.5, 0.45])
_AX = np.array([[0.3, -1.2, 2.0, 0.7, 0.1, -0.4], [1.1, 0.2, -0.5, 0.9, 1.6, 0.0]])

# name: (differentiable positional args, other positional args, keyword args)
# _AX with a NaN in each row (NaN entries get zero weight and zero gradient).
_AX_NAN = np.where(np.eye(2, 6, 1, dtype=bool), np.nan, _AX)

ST_CASES = {
    "abs": ((_EW,), (), {}),
    "clip": ((_EW, -0.25, 0.3), (), {}),
    "heaviside": ((_EW,), (), {"softness": 0.05}),
    "relu": ((_EW,), (), {"gated": True}),
    "round": ((_ROUND,), (), {"mode": "c1"}),
    "sign": ((_EW,), (), {}),
    "greater": ((_EW, _EW_Y), (), {}),
    "greater_equal": ((_EW, _EW_Y), (), {"mode": "c2"}),
    "less": ((_EW, _EW_Y), (), {}),
    "less_equal": ((_EW, _EW_Y), (), {}),
    "equal": ((_EW, _EW_Y), (), {}),
    "not_equal": ((_EW, _EW_Y), (), {"mode": "c0"}),
    "isclose": ((_EW, _EW_Y), (), {"softness": 0.3, "rtol": 0.1}),
    "argmax": ((_AX,), (), {"axis": 1}),
    "max": ((_AX,), (), {"axis": 0, "keepdims": True}),
    "argmin": ((_AX,), (), {}),
    "min": ((_AX,), (), {"axis": 1, "mode": "c1"}),
    "argquantile": ((_AX,), (0.3,), {"axis": 1}),
    "quantile": ((_AX,), (np.array([0.2, 0.75]),), {"axis": 1}),
    "argpercentile": ((_AX,), (40.0,), {}),
    "percentile": ((_AX,), (40.0,), {"axis": 0, "quantile_method": "lower"}),
    "argmedian": ((_AX,), (), {"axis": 1}),
    "median": ((_AX,), (), {"method": "softsort"}),
    "argsort": ((_AX,), (), {"axis": 1, "descending": True}),
    "sort": ((_AX,), (), {"axis": 1}),
    "top_k": ((_AX,), (3,), {}),
    "top_k_mask": ((_AX,), (2,), {"axis": 1, "mode": "c1"}),
    "rank": ((_AX,), (), {"axis": 1}),
    "floor": ((_ROUND,), (), {}),
    "ceil": ((_ROUND,), (), {"mode": "c2", "softness": 0.2}),
    "trunc": ((_ROUND,), (), {"mode": "c1"}),
    "floor_divide": ((_ROUND, _EW_Y + 1.3), (), {}),
    "mod": ((_ROUND, -1.3 - _EW_Y), (), {"mode": "c2"}),
    "remainder": ((_ROUND, _EW_Y + 1.3), (), {"neighbor_radius": 3}),
    "maximum": ((_EW, _EW_Y), (), {}),
    "minimum": ((_EW, _EW_Y), (), {"mode": "c1"}),
    "ptp": ((_AX,), (), {"axis": 1}),
    "relu6": ((_EW * 4 + 3,), (), {"softness": 0.5}),
    "hard_tanh": ((_EW,), (), {"mode": "c1"}),
    "hard_sigmoid": ((_EW * 3,), (), {"softness": 0.5}),
    "hard_silu": ((_EW * 3,), (), {"mode": "c2", "softness": 0.5}),
    "searchsorted": ((np.array([-1.0, -0.2, 0.3, 1.1]), _EW), (), {}),
    "digitize": ((_EW,), (np.array([-1.0, 0.0, 0.5]),), {"mode": "c1"}),
    "histogram": ((_EW,), (), {"bins": 3, "range": (-1.5, 2.5), "softness": 0.2}),
    "bincount": ((np.array([0.2, 1.4, 2.6, 0.9]),), (), {"length": 4, "mode": "c2"}),
    "one_hot": ((np.array([0.2, 1.4, 2.6]),), (3,), {}),
    "cummax": ((_AX,), (), {"axis": 1}),
    "cummin": ((_AX,), (), {"axis": 1, "mode": "c1"}),
    "count_nonzero": ((_EW,), (), {"softness": 0.05}),
    "isin": ((_EW, _EW_Y), (), {}),
    "allclose": ((_EW, _EW_Y), (), {"atol": 0.05, "softness": 0.3}),
    "array_equal": ((_EW, _EW_Y), (), {"softness": 0.3}),
    "nanmax": ((_AX_NAN,), (), {"axis": 1}),
    "nanmin": ((_AX_NAN,), (), {"axis": 1, "mode": "c1"}),
    "nanargmax": ((_AX_NAN,), (), {"axis": 1}),
    "nanargmin": ((_AX_NAN,), (), {"axis": 1}),
    "nanquantile": ((_AX_NAN,), (0.3,), {"axis": 1}),
    "nanmedian": ((_AX_NAN,), (), {"axis": 1}),
    "nanpercentile": ((_AX_NAN,), (40.0,), {"axis": 1, "quantile_method": "lower"}),
}


INTEGER_HARD_RESULTS = {"searchsorted", "digitize", "count_nonzero", "isin", "allclose", "array_equal"}


def _cotangent(tree):
    """A fixed, non-trivial cotangent for every output leaf."""
    return jax.tree.map(
        lambda o: jnp.cos(1.7 * jnp.arange(o.size, dtype=o.dtype).reshape(o.shape) + 0.3), tree
    )


def test_every_st_operator_is_exported_with_its_twin_signature():
    names = sorted(n for n in dir(sj) if n.endswith("_st"))
    assert names == sorted(f"{n}_st" for n in ST_CASES)
    for name in ST_CASES:
        st_fn, soft = getattr(sj, f"{name}_st"), getattr(sj, name)
        assert inspect.signature(st_fn) == inspect.signature(soft), name
        assert st_fn.__name__ == f"{name}_st" and st_fn.__doc__ and "Examples:" in st_fn.__doc__


@pytest.mark.parametrize("name", list(ST_CASES))
def test_st_operator_forward_hard_backward_soft(name):
    diff, rest, kwargs = ST_CASES[name]
    st_fn, soft = getattr(sj, f"{name}_st"), getattr(sj, name)
    soft_mode = kwargs.get("mode", "smooth")
    hard_kwargs = {**kwargs, "mode": "hard"}

    # One compiled function for everything on the st side, one for the hard
    # reference (eager evaluation of the soft pass would cost seconds of
    # per-primitive compilation; eager splicing is tested above).
    hard_jit = jax.jit(lambda *a: soft(*a, *rest, **hard_kwargs))
    args32 = tuple(jnp.asarray(a, jnp.float32) for a in diff)
    args64 = tuple(jnp.asarray(a, jnp.float64) for a in diff)

    @jax.jit
    def st_side(args32, args64):
        out_st, vjp_st = jax.vjp(lambda *d: st_fn(*d, *rest, **kwargs), *args64)
        out_soft, vjp_soft = jax.vjp(lambda *d: soft(*d, *rest, **kwargs), *args64)
        return {
            "st32": st_fn(*args32, *rest, **kwargs),
            "st64": out_st,
            "st_hard64": st_fn(*args64, *rest, **hard_kwargs),  # the plain hard function
            "g_st": vjp_st(_cotangent(out_st)),
            "g_soft": vjp_soft(_cotangent(out_soft)),
        }

    out = st_side(args32, args64)

    # Forward: bit-exact hard value, float32 and float64. An integer hard
    # result (an insertion index) comes back in the input's float dtype, so
    # that it can carry the soft gradient.
    def as_st(hard, like):
        return hard.astype(like.dtype) if name in INTEGER_HARD_RESULTS else hard

    jax.tree.map(lambda st, h: assert_bits_equal(st, as_st(h, st)), out["st32"], hard_jit(*args32))
    hard64 = hard_jit(*args64)
    jax.tree.map(lambda st, h: assert_bits_equal(st, as_st(h, st)), out["st64"], hard64)
    jax.tree.map(assert_bits_equal, out["st_hard64"], hard64)
    # Backward: the soft mode's VJP (float64) w.r.t. every float argument.
    for g, g_soft in zip(out["g_st"], out["g_soft"], strict=True):
        np.testing.assert_allclose(g, g_soft, rtol=1e-12, atol=1e-12)
    assert any(np.abs(np.asarray(g)).max() > 1e-3 for g in out["g_soft"]), f"trivial gradient ({soft_mode})"


def test_spec_examples_of_st_operators():
    # heaviside_st([-1, 0.5, 0, 0.8]) -> [0, 1, 0.5, 1], smooth gradient.
    assert sj.heaviside_st([-1, 0.5, 0, 0.8]).tolist() == [0.0, 1.0, 0.5, 1.0]
    x, y = jnp.asarray(_EW), jnp.asarray(_EW_Y)

    @jax.jit
    def grads(x):
        pairs = {
            "heaviside": (lambda x: sj.heaviside_st(x), lambda x: sj.heaviside(x)),
            # greater_st(x, y, 0.1, "c1", 1e-10) with everything positional.
            "greater": (
                lambda x: sj.greater_st(x, y, 0.1, "c1", 1e-10),
                lambda x: sj.greater(x, y, 0.1, "c1", 1e-10),
            ),
            # isclose: rtol, atol come before mode
            "isclose": (
                lambda x: sj.isclose_st(x, y, 0.5, 0.1, 0.01, "c2"),
                lambda x: sj.isclose(x, y, 0.5, 0.1, 0.01, "c2"),
            ),
        }
        return {
            k: (f(x), jax.grad(lambda x, f=f: f(x).sum())(x), jax.grad(lambda x, g=g: g(x).sum())(x))
            for k, (f, g) in pairs.items()
        }

    out = grads(x)
    assert_bits_equal(out["greater"][0], sj.greater(x, y, mode="hard"))
    assert_bits_equal(out["isclose"][0], sj.isclose(x, y, 0.5, 0.1, 0.01, "hard"))
    for name, (_, g, g_soft) in out.items():
        np.testing.assert_allclose(g, g_soft, atol=1e-12, err_msg=name)
        assert np.abs(np.asarray(g_soft)).max() > 0.1


def test_st_operators_integer_inputs_promote_to_float():
    # Hard relu/round/abs keep ints, the soft path is float: the splice returns
    # the hard value in the common float dtype (as the prior formula did).
    i = jnp.array([-2, 0, 3])
    outs = jax.jit(lambda i: (sj.relu_st(i), sj.round_st(i), sj.abs_st(i)))(i)
    for out, hard in zip(outs, (jax.nn.relu, jnp.round, jnp.abs), strict=True):
        assert out.dtype == jnp.float64
        assert out.tolist() == hard(i).astype(float).tolist()


def test_st_operators_under_vmap_and_jvp():
    x = jnp.asarray(_AX)

    @jax.jit
    def transformed(x):
        t = jnp.ones_like(x)
        return {
            # vmap over rows == the axis-wise call along axis 1
            "sort_rows": jax.vmap(sj.sort_st)(x),
            "top_k_rows": jax.vmap(lambda r: sj.top_k_st(r, 2))(x),
            # jvp: hard primal, soft tangent
            "jvp_st": jax.jvp(lambda x: sj.max_st(x, axis=1), (x,), (t,)),
            "jvp_soft": jax.jvp(lambda x: sj.max(x, axis=1), (x,), (t,))[1],
        }

    out = transformed(x)
    np.testing.assert_array_equal(out["sort_rows"], jnp.sort(x, axis=1))
    np.testing.assert_array_equal(out["top_k_rows"][1], sj.top_k(x, 2, mode="hard")[1])
    np.testing.assert_array_equal(out["jvp_st"][0], jnp.max(x, axis=1))
    np.testing.assert_allclose(out["jvp_st"][1], out["jvp_soft"], atol=1e-12)


# ----------------------------------------------------------------------------- rule-based classifier example

RULE_X = jnp.array(
    [
        [0.2, 0.8],
        [0.5, 0.3],
        [0.9, 0.1],
        [0.4, 0.7],
        [0.1, 0.4],
        [0.2, 0.7],
        [0.4, 0.1],
        [0.4, 0.7],
        [0.7, 0.29],
        [0.3, 0.3],
        [0.61, 0.25],
        [0.4, 0.6],
        [0.0, 0.1],
        [0.5, 0.3],
        [0.4, 0.9],
        [0.1, 0.57],
    ]
)
RULE_LABELS = jnp.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0])


def rule_loss_plain(params, x, labels, mode="smooth"):
    lo, hi = params[0], params[1]
    above = sj.greater(x, lo, mode=mode)
    below = sj.less(x, hi, mode=mode)
    in_range = sj.logical_and(above, below)
    preds = sj.any(in_range, axis=-1)
    return ((preds - labels) ** 2).sum()


def test_rule_based_classifier_example():
    rule_loss = sj.st(rule_loss_plain)
    params = jnp.array([0.0, 1.0])

    @jax.jit
    def start(params):
        args = (params, RULE_X, RULE_LABELS)
        return {
            "st_smooth": jax.value_and_grad(rule_loss)(*args),
            "st_hard": jax.value_and_grad(rule_loss)(*args, mode="hard"),
            "plain": jax.value_and_grad(rule_loss_plain)(*args),
        }

    out = start(params)
    soft_grad = [-4.2777020549582465, 1.4152325250121145]
    # straight-through forward: the hard loss in both modes
    assert out["st_smooth"][0] == 6.0 and out["st_hard"][0] == 6.0
    assert out["st_hard"][1].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(out["st_smooth"][1], soft_grad, rtol=1e-9)
    np.testing.assert_allclose(out["plain"][0], 5.561320469742261, rtol=1e-12)
    np.testing.assert_allclose(out["plain"][1], soft_grad, rtol=1e-9)

    @jax.jit
    def train(params):
        return jax.lax.fori_loop(
            0, 20, lambda _, p: p - 0.01 * jax.grad(rule_loss)(p, RULE_X, RULE_LABELS), params
        )

    np.testing.assert_allclose(train(params), [0.2925220147434947, 0.5998945118569076], rtol=1e-9)


def test_st_log_probs_keep_hard_infinities_with_finite_soft_gradient():
    x = jnp.asarray(_AX)

    @jax.jit
    def run(x):
        f_st = lambda x: sj.argmax_st(x, axis=1, return_log_probs=True)
        f_soft = lambda x: sj.argmax(x, axis=1, return_log_probs=True)
        ct = _cotangent(f_soft(x))
        return f_st(x), jax.vjp(f_st, x)[1](ct)[0], jax.vjp(f_soft, x)[1](ct)[0]

    value, g_st, g_soft = run(x)
    assert_bits_equal(value, sj.argmax(x, axis=1, mode="hard", return_log_probs=True))
    assert np.isneginf(np.asarray(value)).sum() == 10
    assert np.isfinite(np.asarray(g_st)).all()
    np.testing.assert_allclose(g_st, g_soft, rtol=1e-12, atol=1e-12)


def test_top_k_st_without_soft_index_returns_hard_index_without_gradient():
    x = jnp.asarray(_AX)
    kw = {"method": "fast_soft_sort", "softness": 1.0}
    assert sj.top_k(x, 2, **kw)[1] is None

    @jax.jit
    def run(x):
        values, index = sj.top_k_st(x, 2, **kw)
        ct = _cotangent(values)
        g_st = jax.vjp(lambda x: sj.top_k_st(x, 2, **kw)[0], x)[1](ct)[0]
        g_soft = jax.vjp(lambda x: sj.top_k(x, 2, **kw)[0], x)[1](ct)[0]
        g_index = jax.grad(lambda x: (sj.top_k_st(x, 2, **kw)[1] * jnp.arange(6.0)).sum())(x)
        return values, index, g_st, g_soft, g_index

    values, index, g_st, g_soft, g_index = run(x)
    hard_values, hard_index = sj.top_k(x, 2, mode="hard")
    assert_bits_equal(values, hard_values)
    assert_bits_equal(index, hard_index)
    np.testing.assert_allclose(g_st, g_soft, rtol=1e-12, atol=1e-12)
    assert np.abs(np.asarray(g_soft)).max() > 0.1
    assert not np.asarray(g_index).any()


def test_public_straight_through_module():
    # Code written against the reference API imports from this path.
    import softjax.straight_through as public
    from softjax.straight_through import sort_st, st

    assert st is sj.st and sort_st is sj.sort_st
    assert set(public.__all__) == {n for n in sj.__all__ if n.endswith("_st")} | {"st", "grad_replace"}
    for name in public.__all__:
        assert getattr(public, name) is getattr(sj, name)
    assert sj.straight_through is public
