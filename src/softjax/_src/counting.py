r"""Soft logic and counting: ``count_nonzero``, ``isin``, ``allclose``, ``array_equal``, ``select``.

Each hard operator here reduces elementwise comparisons: a count of
``a != 0``, an ``any`` of ``element == t`` over the test elements, an ``all``
of ``isclose`` or ``==``. The soft versions use the soft comparisons of
:mod:`softjax._src.comparison` (``sj.not_equal``, ``sj.equal``,
``sj.isclose``: exactly 1 at a tie) and combine them with the probabilistic
logic of :mod:`softjax._src.logic` (``and`` multiplies, ``or`` is
$1 - \prod(1 - p)$), or sum them. ``mode="hard"`` is the ``jax.numpy``
operator itself (its value, dtype and shape); soft modes return floats.

Non-finite operands: two equal infinities compare equal (a tie), an infinity
against anything else is unequal, both with zero gradient; a NaN propagates
(NaN out), unless ``equal_nan=True`` declares NaN pairs equal. Half precision
is computed in float32 and cast back.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from softjax._src.comparison import equal, isclose, not_equal
from softjax._src.elementwise import check_broadcast, check_mode
from softjax._src.logic import _canonical_axes, all as soft_all, any as soft_any
from softjax._src.selection import where
from softjax._src.types import ElementwiseMode, SoftBool, StepMode
from softjax._src.validation import validate_softness

__all__ = ["allclose", "array_equal", "count_nonzero", "isin", "select"]


def _float_dtype(fn: str, *arrays: ArrayLike) -> jnp.dtype:
    """The real float dtype of the soft result: the inputs' common dtype, floats for ints and bools."""
    dtype = jnp.result_type(*arrays)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: soft modes need real input, got {dtype}")
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _compute_dtype(dtype: DTypeLike) -> jnp.dtype:
    # bfloat16 cannot count past 256 and its products lose digits fast.
    return jnp.promote_types(dtype, jnp.float32)


def _soft_equal(
    x: jax.Array,
    y: jax.Array,
    softness: float | ArrayLike,
    mode: StepMode,
    tolerance: tuple[float, float] | None = None,
    equal_nan: bool = False,
) -> jax.Array:
    """Soft ``x == y`` (``sj.equal``), or ``sj.isclose`` with ``tolerance=(rtol, atol)``.

    Where an operand is infinite (or NaN, under ``equal_nan``) the result is
    JAX's hard one, computed on zeroed operands so that ``inf - inf`` and an
    infinite tolerance never reach the value or the gradient.
    """
    special = jnp.isinf(x) | jnp.isinf(y)
    hard = x == y
    if equal_nan:
        special = special | jnp.isnan(x) | jnp.isnan(y)
        hard = hard | (jnp.isnan(x) & jnp.isnan(y))
    xs, ys = jnp.where(special, 0.0, x), jnp.where(special, 0.0, y)
    if tolerance is None:
        p = equal(xs, ys, softness, mode)
    else:
        p = isclose(xs, ys, softness, tolerance[0], tolerance[1], mode)
    return jnp.where(special, hard.astype(p.dtype), p)


def _finite_or(v: jax.Array, other: jax.Array) -> jax.Array:
    """``v`` where finite, else ``other`` where that is finite, else 0."""
    return jnp.where(jnp.isfinite(v), v, jnp.where(jnp.isfinite(other), other, 0))


def _all_elements(p: jax.Array, use_geometric_mean: bool) -> jax.Array:
    """Soft ``all`` over every element; 1 for an empty array (the geometric mean of none is NaN)."""
    if p.size == 0:
        return jnp.ones((), p.dtype)
    out: jax.Array = soft_all(p, axis=None, use_geometric_mean=use_geometric_mean)
    return out


def count_nonzero(
    a: ArrayLike,
    axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jnp.count_nonzero``: the sum of soft ``a != 0`` over ``axis``.

    $$\mathrm{count}(a) = \sum_i \mathrm{ne}(a_i, 0), \qquad
      \mathrm{ne}(a_i, 0) = \mathrm{clip}\big(2S(|a_i|_S - \varepsilon) - 1, 0, 1\big),$$

    the soft :func:`softjax.not_equal` of each entry and 0 (exactly 0 at
    $a_i = 0$, tending to 1 once $|a_i|$ exceeds a few ``softness``). Each
    term lies in $[0, 1]$, so the count lies in $[0, n]$ for $n$ reduced
    entries; for $s \to 0$ it tends to the hard count. An infinite entry
    counts 1; a NaN entry makes its count NaN.

    Args:
        a: input array (bools and ints are promoted to the default float in
            soft modes).
        axis: axis or tuple of axes to count along; ``None`` counts over all
            of them.
        keepdims: keep the reduced axes with length 1.
        softness: $s > 0$, width of each soft comparison (scalar or array
            broadcastable against ``a``).
        mode: ``"hard"`` (``jnp.count_nonzero``), ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"``.

    Returns:
        Array with ``axis`` reduced: hard mode ``jnp.count_nonzero``'s
            integer counts; soft modes float counts in $[0, n]$ (``a``'s
            float dtype).

    Raises:
        ValueError: ``axis`` out of bounds or repeated, unknown ``mode``, or a
            non-positive concrete ``softness``.
        TypeError: complex ``a`` in a soft mode.

    Examples:
        >>> import softjax as sj
        >>> a = jnp.array([[0.0, 0.05, 1.0], [0.0, 0.0, -2.0]])
        >>> sj.count_nonzero(a, mode="hard")
        Array(3, dtype=int32)
        >>> sj.count_nonzero(a, axis=1)
        Array([1.0610625, 1.       ], dtype=float32)
        >>> sj.count_nonzero(a, axis=0, softness=0.02, mode="c0")
        Array([0.  , 0.25, 2.  ], dtype=float32)
    """
    check_mode(mode)
    if mode == "hard":
        return jnp.count_nonzero(a, axis=axis, keepdims=keepdims)
    validate_softness(softness)
    dtype = _float_dtype("count_nonzero", a)
    x = jnp.asarray(a).astype(_compute_dtype(dtype))
    axes = _canonical_axes(axis, x.ndim)
    p = not_equal(x, jnp.zeros((), x.dtype), softness, mode)
    return jnp.sum(p, axis=axes, keepdims=keepdims).astype(dtype)


def isin(
    element: ArrayLike,
    test_elements: ArrayLike,
    assume_unique: bool = False,
    invert: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> SoftBool:
    r"""Soft ``jnp.isin``: the probability that each element equals one of ``test_elements``.

    With $e(x, t)$ the soft :func:`softjax.equal` (1 at $x = t$, decaying to
    0 beyond a few ``softness``) and the probabilistic ``or`` of
    :func:`softjax.any`,

    $$\mathrm{isin}(x) = 1 - \prod_j \big(1 - e(x, t_j)\big),$$

    and $1 - \mathrm{isin}(x)$ with ``invert=True``. An element equal to a
    test element gets exactly 1; for $s \to 0$ the result tends to the hard
    membership. No test elements give 0 (``True`` with ``invert``). Equal
    infinities match; a NaN element gives NaN, and a NaN test element makes
    every result NaN. Time and memory $O(\mathrm{element.size} \cdot
    \mathrm{test\_elements.size})$ (every pair is compared).

    Args:
        element: values to look up, any shape.
        test_elements: the values to look for, any shape (flattened).
        assume_unique: accepted for ``jnp.isin`` compatibility (passed on in
            hard mode; no effect on the soft result).
        invert: return the soft ``not in`` instead.
        softness: $s > 0$, width of each soft equality (scalar or array
            broadcastable against ``element``).
        mode: ``"hard"`` (``jnp.isin``), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"``.

    Returns:
        SoftBool of ``element``'s shape (hard mode: ``jnp.isin``'s boolean
            array), in the common float dtype of ``element`` and
            ``test_elements``.

    Raises:
        ValueError: unknown ``mode`` or a non-positive concrete ``softness``.
        TypeError: complex input in a soft mode.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.0, 0.9, 2.0, 3.0])
        >>> t = jnp.array([1.0, 2.0])
        >>> sj.isin(x, t, mode="hard")
        Array([False, False,  True, False], dtype=bool)
        >>> sj.isin(x, t)
        Array([9.083748e-05, 7.729748e-01, 1.000000e+00, 9.083748e-05], dtype=float32)
        >>> sj.isin(x, t, invert=True, softness=0.05, mode="c2")
        Array([1.       , 0.4814365, 0.       , 1.       ], dtype=float32)
    """
    check_mode(mode)
    if mode == "hard":
        return jnp.isin(element, test_elements, assume_unique=assume_unique, invert=invert)
    validate_softness(softness)
    dtype = _float_dtype("isin", element, test_elements)
    ct = _compute_dtype(dtype)
    x = jnp.asarray(element).astype(ct)
    t = jnp.ravel(jnp.asarray(test_elements)).astype(ct)
    s = softness if jnp.ndim(softness) == 0 else jnp.expand_dims(jnp.asarray(softness), -1)
    member: jax.Array = soft_any(_soft_equal(x[..., None], t, s, mode), axis=-1)
    return (1 - member if invert else member).astype(dtype)


def allclose(
    a: ArrayLike,
    b: ArrayLike,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft ``jnp.allclose``: the soft ``and`` of soft :func:`softjax.isclose` over every element.

    With $c_i$ the soft ``isclose`` of $a_i$ and $b_i$ (exactly 1 inside the
    tolerance $|a_i - b_i| \le \mathrm{atol} + \mathrm{rtol}\,|b_i|$,
    decaying to 0 beyond it over a few ``softness``),

    $$\mathrm{allclose}(a, b) = \prod_i c_i,$$

    or with ``use_geometric_mean`` the geometric mean
    $\exp\big(\operatorname{mean}_i \log\max(c_i, 10^{-10})\big)$, as
    :func:`softjax.all`. The geometric mean keeps long arrays with a few
    near misses from vanishing. Empty arrays give 1. Equal infinities are
    close; with ``equal_nan`` two NaNs are close and a NaN against a number
    is not, otherwise a NaN gives NaN.

    Args:
        a: first array.
        b: reference array, broadcastable with ``a`` (the tolerance scales
            with $|b|$, as in ``jnp.allclose``).
        rtol: relative tolerance.
        atol: absolute tolerance.
        equal_nan: count NaNs in the same place as close.
        softness: $s > 0$, width of each soft comparison (scalar or array
            broadcastable against ``a - b``).
        mode: ``"hard"`` (``jnp.allclose``), ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"``.
        use_geometric_mean: combine with the geometric mean instead of the
            product.

    Returns:
        Scalar SoftBool (hard mode: ``jnp.allclose``'s boolean), in the
            common float dtype of ``a`` and ``b``.

    Raises:
        ValueError: ``a`` and ``b`` do not broadcast, unknown ``mode``, or a
            non-positive concrete ``softness``.
        TypeError: complex input in a soft mode.

    Examples:
        >>> import softjax as sj
        >>> a = jnp.array([1.0, 2.0, 3.05])
        >>> b = jnp.array([1.0, 2.0, 3.0])
        >>> sj.allclose(a, b, mode="hard")
        Array(False, dtype=bool)
        >>> sj.allclose(a, b)
        Array(0.9389963, dtype=float32)
        >>> sj.allclose(a, b, atol=0.1)
        Array(1., dtype=float32)
    """
    check_mode(mode)
    check_broadcast("allclose", a=a, b=b)
    if mode == "hard":
        return jnp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    validate_softness(softness)
    dtype = _float_dtype("allclose", a, b)
    ct = _compute_dtype(dtype)
    x, y = jnp.asarray(a).astype(ct), jnp.asarray(b).astype(ct)
    p = _soft_equal(x, y, softness, mode, (rtol, atol), equal_nan)
    return _all_elements(p, use_geometric_mean).astype(dtype)


def array_equal(
    a1: ArrayLike,
    a2: ArrayLike,
    equal_nan: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft ``jnp.array_equal``: the soft ``and`` of soft :func:`softjax.equal` over every element.

    Arrays of different shapes are unequal (0, as ``jnp.array_equal`` gives
    ``False``; no broadcasting). Otherwise, with $e_i$ the soft equality of
    the $i$-th entries (exactly 1 at a tie),

    $$\mathrm{array\_equal}(a_1, a_2) = \prod_i e_i,$$

    or with ``use_geometric_mean`` the geometric mean
    $\exp\big(\operatorname{mean}_i \log\max(e_i, 10^{-10})\big)$, as
    :func:`softjax.all`. Empty arrays of one shape give 1. Equal
    infinities are equal; with ``equal_nan`` two NaNs are equal and a NaN
    against a number is not, otherwise a NaN gives NaN.

    Args:
        a1: first array.
        a2: second array.
        equal_nan: count NaNs in the same place as equal.
        softness: $s > 0$, width of each soft equality (scalar or array
            broadcastable against ``a1``).
        mode: ``"hard"`` (``jnp.array_equal``), ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"``.
        use_geometric_mean: combine with the geometric mean instead of the
            product.

    Returns:
        Scalar SoftBool (hard mode: ``jnp.array_equal``'s boolean), in the
            common float dtype of ``a1`` and ``a2``.

    Raises:
        ValueError: unknown ``mode`` or a non-positive concrete ``softness``.
        TypeError: complex input in a soft mode.

    Examples:
        >>> import softjax as sj
        >>> a = jnp.array([0.0, 1.0, 2.0])
        >>> sj.array_equal(a, jnp.array([0.0, 1.0, 2.0]), mode="hard")
        Array(True, dtype=bool)
        >>> sj.array_equal(a, jnp.array([0.0, 1.02, 2.0]))
        Array(0.9900335, dtype=float32)
        >>> sj.array_equal(a, jnp.array([0.0, 1.0]))  # different shapes
        Array(0., dtype=float32)
    """
    check_mode(mode)
    if mode == "hard":
        return jnp.array_equal(a1, a2, equal_nan=equal_nan)
    validate_softness(softness)
    dtype = _float_dtype("array_equal", a1, a2)
    x, y = jnp.asarray(a1), jnp.asarray(a2)
    if x.shape != y.shape:
        return jnp.zeros((), dtype)
    ct = _compute_dtype(dtype)
    p = _soft_equal(x.astype(ct), y.astype(ct), softness, mode, None, equal_nan)
    return _all_elements(p, use_geometric_mean).astype(dtype)


def select(
    condlist: Sequence[SoftBool], choicelist: Sequence[ArrayLike], default: ArrayLike = 0
) -> jax.Array:
    r"""Soft ``jnp.select``: the first condition that holds picks its choice, with soft conditions.

    With SoftBool conditions $c_1, \dots, c_k$ (probabilities in $[0, 1]$),
    choices $x_1, \dots, x_k$ and default $d$,

    $$\mathrm{select} = \sum_i c_i \prod_{j < i} (1 - c_j)\, x_i
      + \prod_j (1 - c_j)\, d,$$

    the expected value when condition $i$ is checked only if all earlier
    ones failed (first true wins); the weights are non-negative and sum to
    1. It is evaluated as nested :func:`softjax.where`,
    ``where(c_1, x_1, where(c_2, x_2, ... where(c_k, x_k, d)))``, so where a
    condition is exactly 1 or 0 the later (or that) branch contributes
    nothing, in value or gradient, even when non-finite. Conditions that are
    all boolean arrays give ``jnp.select`` itself (value and dtype); float
    conditions of 0 and 1 give its values in the promoted float dtype. There
    is no ``softness`` or ``mode``: the conditions carry the softness (e.g.
    from :func:`softjax.greater`).

    Args:
        condlist: sequence of $k \ge 1$ SoftBool conditions (booleans work
            too), broadcast-compatible with each other and with the choices.
        choicelist: sequence of $k$ choices, one per condition.
        default: value where no condition holds.

    Returns:
        Array of the broadcast shape of all conditions, choices and
            ``default``.

    Raises:
        ValueError: ``condlist`` and ``choicelist`` of different lengths, an
            empty ``condlist``, or operands that do not broadcast.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-2.0, -0.05, 0.5, 1.05])
        >>> sj.select([x < 0, x > 1], [-1.0, 1.0], default=x)
        Array([-1. , -1. ,  0.5,  1. ], dtype=float32)
        >>> conds = [sj.less(x, 0.0, mode="c0"), sj.greater(x, 1.0, mode="c0")]
        >>> sj.select(conds, [-1.0, 1.0], default=x)
        Array([-1.    , -0.5725,  0.5   ,  1.0225], dtype=float32)
    """
    if len(condlist) != len(choicelist):
        raise ValueError(
            "select: condlist and choicelist must have the same length, "
            f"got {len(condlist)} conditions and {len(choicelist)} choices."
        )
    if len(condlist) == 0:
        raise ValueError("select: condlist must be non-empty.")
    operands: dict[str, ArrayLike] = {f"condlist[{i}]": c for i, c in enumerate(condlist)}
    operands.update({f"choicelist[{i}]": x for i, x in enumerate(choicelist)})
    check_broadcast("select", **operands, default=default)
    conds = [jnp.asarray(c) for c in condlist]
    if all(c.dtype == jnp.bool_ for c in conds):
        return jnp.select(conds, list(choicelist), default)
    out = jnp.asarray(default)
    for c, choice in zip(reversed(conds), reversed(list(choicelist)), strict=True):
        x = jnp.asarray(choice)
        # An unselected non-finite branch becomes the selected one, or 0 if that
        # is not finite either: where's blend would meet inf * 0 = NaN.
        x, out = jnp.where(c == 0, _finite_or(x, out), x), jnp.where(c == 1, _finite_or(out, x), out)
        out = where(c, x, out)
    return out
