r"""Soft searching: ``searchsorted`` and ``digitize``, and the helpers the binning operators share.

The insertion index of $v$ in a sorted $a$ is the number of $a_i < v$ (or
$\le v$). The soft versions replace each comparison by the soft comparison of
:mod:`softjax._src.comparison` (so ties follow the same convention: a strict
comparison is slightly below 1/2 at a tie, a non-strict one slightly above)
and sum them.

Non-finite differences: where both operands are the same infinity their
difference (``inf - inf``) is taken as 0, a tie, instead of NaN; a NaN operand
propagates. Half precision is computed in float32 and cast back (bfloat16
cannot count past 256).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from softjax._src.comparison import greater, greater_equal
from softjax._src.elementwise import check_mode
from softjax._src.kernels.batch_predicate import any_rows
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.types import ElementwiseMode, StepMode
from softjax._src.validation import (
    validate_choice,
    validate_softness,
)

__all__ = ["digitize", "searchsorted"]

# Sorted-array searches with more elements than this sum the soft comparisons
# over a window of this many positions around each query (see _soft_count).
_WINDOW = 64
# Half-width of the window's band, in units of softness: the piecewise steps
# are exactly 0 or 1 beyond 5s (5% margin against rounding of the band's
# ends); the logistic is below exp(-40) ~ 4e-18 beyond 40s.
_REACH = {"smooth": 40.0}
_PIECEWISE_REACH = 5.25
_EPSILON = 1e-10  # the comparisons' tie-breaking shift


def _compute_dtype(dtype: DTypeLike) -> jnp.dtype:
    return jnp.promote_types(dtype, jnp.float32)


def _float_dtype(*arrays: ArrayLike) -> jnp.dtype:
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.result_type(float)


def _expand(softness: float | ArrayLike) -> ArrayLike:
    """Softness broadcastable against an array with one more trailing axis.

    A scalar is returned as it is: a Python float stays weakly typed, so it
    does not promote half-precision inputs.
    """
    return softness if jnp.ndim(softness) == 0 else jnp.expand_dims(jnp.asarray(softness), -1)


def _diff(x: jax.Array, y: jax.Array) -> jax.Array:
    """``x - y`` with ``inf - inf`` (same infinities) taken as a tie (0); NaN operands propagate."""
    d = x - y
    return jnp.where(jnp.isnan(d) & ~jnp.isnan(x) & ~jnp.isnan(y), 0.0, d)


def _check_1d(fn: str, name: str, x: jax.Array) -> None:
    if x.ndim != 1:
        raise ValueError(f"{fn}: {name} must be 1-dimensional, got {name}.shape={x.shape}")


def _check_side(side: str) -> str:
    return validate_choice("side", side, ("left", "right"))


# --------------------------------------------------------------------------- kernel


def _step(d: jax.Array, side: str, softness: float | ArrayLike, mode: StepMode) -> jax.Array:
    """Soft ``d > 0`` (side ``"left"``, ``greater``) or ``d >= 0`` (``"right"``, ``greater_equal``)."""
    compare = greater if side == "left" else greater_equal
    return compare(d, jnp.zeros((), d.dtype), softness, mode)


def _dense_count(
    a: jax.Array, v: jax.Array, side: str, softness: float | ArrayLike, mode: StepMode
) -> jax.Array:
    """$\\sum_i$ soft$(a_i < v)$ over all of ``a``: ``O(v.size * n)`` time and memory."""
    return jnp.sum(_step(_diff(v[..., None], a), side, _expand(softness), mode), axis=-1)


def _window_count(
    a: jax.Array, v: jax.Array, side: str, softness: float | ArrayLike, mode: StepMode
) -> tuple[jax.Array, jax.Array]:
    """The windowed count and whether some query's band is wider than the window.

    ``lo`` positions lie below the band (their soft comparisons are exactly 1,
    or within ``exp(-40)`` of it for the logistic), positions from ``hi`` on
    above it (0). The window of ``_WINDOW`` positions starting at
    ``min(lo, n - _WINDOW)`` then covers the band whenever ``hi - lo`` fits.
    """
    n = a.shape[0]
    reach = _REACH.get(mode, _PIECEWISE_REACH) * jnp.asarray(softness, v.dtype)
    centre = v - (_EPSILON if side == "left" else -_EPSILON)
    lo = jnp.searchsorted(a, centre - reach, side="left")
    hi = jnp.searchsorted(a, centre + reach, side="right")
    start = jnp.clip(lo, 0, n - _WINDOW)
    idx = start[..., None] + jnp.arange(_WINDOW, dtype=start.dtype)
    terms = _step(_diff(v[..., None], a[idx]), side, _expand(softness), mode)
    return start.astype(v.dtype) + jnp.sum(terms, axis=-1), jnp.any(hi - lo > _WINDOW)


def _soft_count(
    a: jax.Array, v: jax.Array, side: str, softness: float | ArrayLike, mode: StepMode
) -> jax.Array:
    """:func:`_local_soft_count` per device where ``v`` is sharded over explicit mesh axes."""
    return map_rows(
        lambda v, a, s: _local_soft_count(a, v, side, s, mode), v, a, jnp.asarray(softness), trailing=0
    )


def _local_soft_count(
    a: jax.Array, v: jax.Array, side: str, softness: float | ArrayLike, mode: StepMode
) -> jax.Array:
    r"""$\sum_i$ soft$(a_i < v)$ (``"left"``) or soft$(a_i \le v)$ (``"right"``) for sorted 1-D ``a``.

    Dense for ``n <= _WINDOW``; otherwise the windowed sum, falling back to
    the dense one (``lax.cond``) when some band holds more than ``_WINDOW``
    elements. ``a`` and ``v`` are in the compute dtype.
    """
    n = a.shape[0]
    if n == 0:
        return jnp.zeros(v.shape, v.dtype)
    if n <= _WINDOW:
        out = _dense_count(a, v, side, softness, mode)
    else:
        windowed, too_wide = _window_count(a, v, side, softness, mode)
        out = jax.lax.cond(
            any_rows(too_wide),
            lambda a, v, s, w: _dense_count(a, v, side, s, mode),
            lambda a, v, s, w: w,
            a,
            v,
            softness,
            windowed,
        )
    # A NaN in a (sorted last) may lie outside every window: propagate it.
    return jnp.where(jnp.any(jnp.isnan(a)), jnp.nan, out)


def _prepare_search(fn: str, name: str, a: ArrayLike, v: ArrayLike) -> tuple[jax.Array, jax.Array, jnp.dtype]:
    a, v = jnp.asarray(a), jnp.asarray(v)
    _check_1d(fn, name, a)
    dtype = _float_dtype(a, v)
    ct = _compute_dtype(dtype)
    return a.astype(ct), v.astype(ct), dtype


# --------------------------------------------------------------------------- operators


def hard_searchsorted(a: ArrayLike, v: ArrayLike, side: str) -> jax.Array:
    """``jnp.searchsorted(a, v, side=side)``, per device where ``v`` is sharded over explicit mesh axes.

    ``jnp.searchsorted`` itself fails on queries typed with an explicit mesh
    axis (jax 0.10: "Resource axis ... is not found in mesh"); every query is
    independent, so each device searches its own.
    """
    return map_rows(
        lambda v, a: jnp.searchsorted(a, v, side=side), jnp.asarray(v), jnp.asarray(a), trailing=0
    )


def hard_digitize(x: ArrayLike, bins: ArrayLike, right: bool) -> jax.Array:
    """``jnp.digitize(x, bins, right)``, per device as :func:`hard_searchsorted`."""
    return map_rows(
        lambda x, bins: jnp.digitize(x, bins, right=right), jnp.asarray(x), jnp.asarray(bins), trailing=0
    )


def searchsorted(
    a: ArrayLike,
    v: ArrayLike,
    side: str = "left",
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jnp.searchsorted``: the insertion index as a sum of soft comparisons.

    The hard index of $v$ in the sorted $a$ is $\#\{i : a_i < v\}$
    (``side="left"``) or $\#\{i : a_i \le v\}$ (``side="right"``). The soft
    index sums the soft comparisons of :func:`softjax.greater` and
    :func:`softjax.greater_equal`,

    $$\mathrm{left}(v) = \sum_i S(v - a_i - \varepsilon), \qquad
      \mathrm{right}(v) = \sum_i S(v - a_i + \varepsilon),$$

    with the comparisons' tie convention ($\varepsilon = 10^{-10}$): at a tie
    $v = a_i$ each term is about 1/2, so ``left`` and ``right`` differ by
    about half the number of ties. The soft index is increasing in $v$ and
    decreasing in every $a_i$; for $s \to 0$ it tends to the hard index
    wherever $v$ is not one of the $a_i$.

    Complexity, for $n$ = ``a.size`` and $m$ = ``v.size``: up to $n = 64$ the
    sum is dense, $O(nm)$. Beyond, the elements of ``a`` within the band
    $v \pm 5.25s$ (piecewise modes, whose steps are exactly 0 or 1 outside
    $\pm 5s$) or $v \pm 40s$ (smooth; the logistic terms beyond are below
    $e^{-40} \approx 4 \cdot 10^{-18}$ and counted as exact 0 or 1) are found
    with ``jnp.searchsorted``, the elements below the band are counted
    exactly and the soft comparisons are summed over a window of 64
    positions covering the band: $O((n + m) \log n + 64 m)$. When some
    band holds more than 64 elements (a softness large against the spacing
    of ``a``) the dense sum is used instead (one ``lax.cond`` for all the
    rows, ``jax.vmap``'s included).

    Args:
        a: 1-D array sorted in increasing order (not checked, like
            ``jnp.searchsorted``).
        v: query values, any shape.
        side: ``"left"`` (count $a_i < v$) or ``"right"`` (count
            $a_i \le v$).
        softness: $s > 0$, width of each soft comparison (scalar or array
            broadcastable against ``v``).
        mode: ``"hard"`` (``jnp.searchsorted``), ``"smooth"`` (logistic),
            ``"c0"``, ``"c1"``, ``"c2"`` (piecewise-polynomial steps with band
            $\pm 5s$).

    Returns:
        Array of ``v``'s shape: hard mode ``jnp.searchsorted``'s integer
            indices; soft modes float indices in $[0, n]$, in the common float
            dtype of ``a`` and ``v``. A NaN in ``v`` or ``a`` gives NaN.

    Raises:
        ValueError: ``a`` not 1-D, ``side`` not ``"left"``/``"right"``,
            unknown ``mode``, or a non-positive concrete ``softness``.

    Examples:
        >>> import softjax as sj
        >>> a = jnp.array([0.0, 1.0, 2.0, 3.0])
        >>> v = jnp.array([-1.0, 0.5, 1.0, 2.9])
        >>> sj.searchsorted(a, v, mode="hard")
        Array([0, 1, 1, 3], dtype=int32)
        >>> sj.searchsorted(a, v, "right", mode="hard")
        Array([0, 1, 2, 3], dtype=int32)
        >>> sj.searchsorted(a, v, softness=0.05, mode="c1")  # a tie counts 1/2
        Array([0.       , 1.       , 1.5      , 3.2160003], dtype=float32)
    """
    check_mode(mode)
    _check_side(side)
    if mode == "hard":
        return hard_searchsorted(a, v, side)
    validate_softness(softness)
    a, v, dtype = _prepare_search("searchsorted", "a", a, v)
    return _soft_count(a, v, side, softness, mode).astype(dtype)


def digitize(
    x: ArrayLike,
    bins: ArrayLike,
    right: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jnp.digitize``: the index of the bin of each ``x``, as a soft count.

    For increasing ``bins`` this is soft :func:`searchsorted` of ``x`` in
    ``bins`` with ``side="right"`` ($\#\{i : b_i \le x\}$; with
    ``right=True``, ``side="left"``, $\#\{i : b_i < x\}$); for decreasing
    ``bins`` (``bins[-1] < bins[0]``, decided at run time as in
    ``jnp.digitize``) it is $n$ minus that count in the reversed bins.
    Its cost is that of soft ``searchsorted``.

    Args:
        x: values to bin, any shape.
        bins: 1-D array of bin edges, increasing or decreasing.
        right: whether the bins include their right edge (``False``: the
            intervals are $b_{i-1} \le x < b_i$).
        softness: $s > 0$, width of each soft comparison (scalar or array
            broadcastable against ``x``).
        mode: ``"hard"`` (``jnp.digitize``), ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"``.

    Returns:
        Array of ``x``'s shape: hard mode ``jnp.digitize``'s integer indices;
            soft modes float indices in $[0, n]$ (common float dtype of ``x``
            and ``bins``). NaN propagates.

    Raises:
        ValueError: ``bins`` not 1-D, unknown ``mode``, or a non-positive
            concrete ``softness``.
        TypeError: ``right`` not a bool.

    Examples:
        >>> import softjax as sj
        >>> bins = jnp.array([0.0, 1.0, 2.0])
        >>> x = jnp.array([-0.5, 0.98, 1.5, 3.0])
        >>> sj.digitize(x, bins, mode="hard")
        Array([0, 1, 2, 3], dtype=int32)
        >>> sj.digitize(x, bins, softness=0.01, mode="c2")
        Array([0.       , 1.1630802, 2.       , 3.       ], dtype=float32)
    """
    check_mode(mode)
    if not isinstance(right, (bool, np.bool_)):
        raise TypeError(f"digitize: right must be a bool, got {right!r}")
    if mode == "hard":
        return hard_digitize(x, bins, bool(right))
    validate_softness(softness)
    bins, x, dtype = _prepare_search("digitize", "bins", bins, x)
    n = bins.shape[0]
    if n == 0:
        return jnp.zeros(x.shape, dtype)
    side = "left" if right else "right"
    increasing = bins[-1] >= bins[0]
    ascending = jnp.where(increasing, bins, bins[::-1])
    count = _soft_count(ascending, x, side, softness, mode)
    return jnp.where(increasing, count, n - count).astype(dtype)
