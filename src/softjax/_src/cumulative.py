r"""Soft ``cummax`` and ``cummin``: running soft maxima along an axis.

The running maximum is a fold of the pairwise maximum,
$M_i = \max(M_{i-1}, x_i)$. The soft version folds the pairwise soft maximum
of :func:`softjax.maximum` instead, written around the larger operand $h$
and the smaller one $l$ as

$$m_s(a, b) = h + R(l - h),$$

with $R$ the soft ReLU of :func:`~softjax._src.steps.softrelu`: $R$ only
sees non-positive differences, so nothing overflows for operands up to the
dtype's maximum (and no discarded branch is ever computed).

* ``mode="smooth"``: $R(d) = s\,\mathrm{softplus}(d / s)$ and $m_s$ is the
  log-add-exp $s \log(e^{a/s} + e^{b/s})$, which is associative: the fold
  runs as a ``jax.lax.associative_scan`` ($O(n)$ work, $O(\log n)$ depth)
  and equals the running log-sum-exp $s\,\mathrm{cumlogsumexp}(x / s)$.
  That closed form is not evaluated as such: $x / s$ overflows once $|x| / s$
  exceeds the dtype's maximum (e.g. $x = 10^{30}$, $s = 10^{-10}$ in float32),
  and a global shift by the row maximum would cancel the small prefixes.
* ``mode="c0"``, ``"c1"``, ``"c2"``: the piecewise-polynomial $R$ makes $m_s$
  commutative but **not** associative, so the left fold is evaluated in order
  with ``jax.lax.scan`` ($O(n)$ work and $O(n)$ sequential steps along the
  axis).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src.elementwise import check_mode
from softjax._src.rounding import _compute_dtype
from softjax._src.steps import softrelu
from softjax._src.types import ElementwiseMode, StepMode
from softjax._src.validation import canonicalize_axis, ensure_float, validate_softness

__all__ = ["cummax", "cummin"]


def _soft_max2(a: jax.Array, b: jax.Array, softness: jax.Array, mode: StepMode) -> jax.Array:
    """Pairwise soft maximum $h + R(l - h)$ (NaN propagates, infinities are kept)."""
    ge = a >= b  # False for a NaN a: then h = b, l = a, and NaN reaches R
    h, lo = jnp.where(ge, a, b), jnp.where(ge, b, a)
    # Two equal infinities: inf - inf would be NaN; their difference is 0.
    same_inf = (lo == h) & jnp.isinf(h)
    d = jnp.where(same_inf, 0.0, lo) - jnp.where(same_inf, 0.0, h)
    return h + softrelu(d, softness, mode)


def _row_softness(fn: str, softness: float | ArrayLike, shape: tuple[int, ...], axis: int) -> jax.Array:
    """``softness`` as a scalar, or an array of ``x.ndim`` dims with length 1 along ``axis``."""
    s = jnp.asarray(softness)
    if s.ndim == 0:
        return s
    padded = (1,) * (len(shape) - s.ndim) + s.shape
    ok = s.ndim <= len(shape) and padded[axis] == 1
    if ok:
        try:
            ok = np.broadcast_shapes(padded, shape) == shape
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(
            f"{fn}: softness must be a scalar or broadcast against x with length 1 along "
            f"axis (one softness per row), got softness.shape={s.shape} for x.shape={shape}, "
            f"axis={axis}."
        )
    return s.reshape(padded)


def _soft_cummax(
    x: jax.Array, axis: int, reverse: bool, softness: float | ArrayLike, mode: StepMode, fn: str
) -> jax.Array:
    dtype = x.dtype
    x = x.astype(_compute_dtype(dtype))  # half precision: fold in float32
    s = _row_softness(fn, softness, x.shape, axis).astype(x.dtype)
    n = x.shape[axis]
    if n <= 1:
        return x.astype(dtype)
    if mode == "smooth":
        out: jax.Array = jax.lax.associative_scan(
            lambda a, b: _soft_max2(a, b, s, mode), x, reverse=reverse, axis=axis
        )
        return out.astype(dtype)
    xs = jnp.moveaxis(x, axis, 0)
    s_row = jnp.moveaxis(s, axis, 0)[0] if s.ndim else s

    def step(carry: jax.Array, xi: jax.Array) -> tuple[jax.Array, jax.Array]:
        new = _soft_max2(carry, xi, s_row, mode)
        return new, new

    if reverse:
        _, rest = jax.lax.scan(step, xs[-1], xs[:-1], reverse=True)
        ys = jnp.concatenate([rest, xs[-1:]], axis=0)
    else:
        _, rest = jax.lax.scan(step, xs[0], xs[1:])
        ys = jnp.concatenate([xs[:1], rest], axis=0)
    return jnp.moveaxis(ys, 0, axis).astype(dtype)


def _prepare(x: ArrayLike, axis: int | None) -> tuple[jax.Array, int]:
    x = jnp.asarray(x)
    if axis is None:
        return jnp.ravel(x), 0
    return x, canonicalize_axis(axis, x.ndim)


def cummax(
    x: ArrayLike,
    axis: int | None = 0,
    reverse: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jax.lax.cummax``: the running maximum as a fold of soft pairwise maxima.

    With $m_s(a, b) = h + R(l - h)$ ($h$, $l$ the larger and smaller
    operand, $R$ the mode's soft ReLU, as in :func:`softjax.maximum`):

    $$y_0 = x_0, \qquad y_i = m_s(y_{i-1}, x_i)$$

    along ``axis`` (from the end for ``reverse=True``). ``"smooth"`` is the
    running log-sum-exp $y_i = s \log \sum_{j \le i} e^{x_j / s}$, evaluated
    as an associative scan of the stable pairwise log-add-exp ($O(n)$ work,
    $O(\log n)$ depth); the piecewise modes are not associative and run as a
    sequential ``lax.scan`` ($O(n)$ steps). Each step derives through the
    soft step $S$: $\partial y_i / \partial y_{i-1} = S(y_{i-1} - x_i)$ and
    $\partial y_i / \partial x_i = S(x_i - y_{i-1})$.

    Bounds, with $M_i$ the hard running maximum and $i$ the number of
    elements before position $i$: $M_i \le y_i \le M_i + s \log(i + 1)$ for
    ``"smooth"`` and $M_i \le y_i \le M_i + i\,R(0)$ for the piecewise modes
    ($R(0) = 1.25s$, $0.9375s$, $0.78125s$ for c0, c1, c2). The soft
    running maximum is non-decreasing along the scan, never below the hard
    one, and tends to it as $s \to 0$; a piecewise step is exact once
    $|y_{i-1} - x_i| \ge 5s$. NaN propagates like in ``lax.cummax``;
    infinities are kept.

    Args:
        x: input array. Hard mode keeps its dtype (as ``jax.lax.cummax``);
            soft modes return its float dtype (the default float for
            integers; half precision is folded in float32 and cast back).
        axis: axis of the scan (negative values count from the end);
            ``None`` scans the flattened array.
        reverse: scan from the end of ``axis`` to its start.
        softness: $s > 0$; a scalar, or an array broadcastable against ``x``
            with length 1 along ``axis`` (one softness per row).
        mode: ``"hard"`` (``jax.lax.cummax``), or the soft ReLU's step
            ``"smooth"`` (logistic), ``"c0"``, ``"c1"``, ``"c2"`` (piecewise
            polynomial, band $\pm 5s$).

    Returns:
        Array of ``x``'s shape (flattened for ``axis=None``); bit for bit
            ``jax.lax.cummax`` in hard mode.

    Raises:
        ValueError: unknown ``mode``, ``axis`` out of bounds, a non-positive
            concrete ``softness``, or a ``softness`` array of a bad shape.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.0, 1.0, 0.5, 3.0, 2.9])
        >>> sj.cummax(x, mode="hard")
        Array([0., 1., 1., 3., 3.], dtype=float32)
        >>> sj.cummax(x, softness=0.2)
        Array([0.       , 1.001343 , 1.0170194, 3.0000098, 3.0948215], dtype=float32)
        >>> sj.cummax(x, reverse=True, softness=0.2, mode="c1")
        Array([3.1412437, 3.1412437, 3.1412437, 3.1412437, 2.9      ], dtype=float32)
    """
    check_mode(mode)
    xa, ax = _prepare(x, axis)
    if mode == "hard":
        return jax.lax.cummax(xa, ax, reverse)
    validate_softness(softness)
    return _soft_cummax(ensure_float(xa), ax, reverse, softness, mode, "cummax")


def cummin(
    x: ArrayLike,
    axis: int | None = 0,
    reverse: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jax.lax.cummin``: $-\mathrm{cummax}(-x)$, the running soft minimum.

    $y_0 = x_0$, $y_i = h - R(h - l)$ with $h$, $l$ the larger and smaller
    of $y_{i-1}$ and $x_i$ (the pairwise soft minimum of
    :func:`softjax.minimum`); ``"smooth"`` is
    $-s \log \sum_{j \le i} e^{-x_j / s}$. With $m_i$ the hard running
    minimum, $m_i - s\log(i + 1) \le y_i \le m_i$ (smooth) and
    $m_i - i\,R(0) \le y_i \le m_i$ (piecewise modes): the soft running
    minimum is non-increasing and never above the hard one. Same costs as
    :func:`cummax` (associative scan for ``"smooth"``, sequential
    ``lax.scan`` otherwise).

    Args:
        x: input array. Hard mode keeps its dtype (as ``jax.lax.cummin``);
            soft modes return its float dtype (the default float for
            integers).
        axis: axis of the scan (negative values count from the end);
            ``None`` scans the flattened array.
        reverse: scan from the end of ``axis`` to its start.
        softness: $s > 0$; a scalar, or an array broadcastable against ``x``
            with length 1 along ``axis`` (one softness per row).
        mode: ``"hard"`` (``jax.lax.cummin``), or the soft ReLU's step
            ``"smooth"`` (logistic), ``"c0"``, ``"c1"``, ``"c2"`` (piecewise
            polynomial, band $\pm 5s$).

    Returns:
        Array of ``x``'s shape (flattened for ``axis=None``); bit for bit
            ``jax.lax.cummin`` in hard mode.

    Raises:
        ValueError: unknown ``mode``, ``axis`` out of bounds, a non-positive
            concrete ``softness``, or a ``softness`` array of a bad shape.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([3.0, 1.0, 1.2, -1.0])
        >>> sj.cummin(x, mode="hard")
        Array([ 3.,  1.,  1., -1.], dtype=float32)
        >>> sj.cummin(x, softness=0.1, mode="c2")
        Array([ 3.      ,  1.      ,  0.986311, -1.      ], dtype=float32)
    """
    check_mode(mode)
    xa, ax = _prepare(x, axis)
    if mode == "hard":
        return jax.lax.cummin(xa, ax, reverse)
    validate_softness(softness)
    return -_soft_cummax(-ensure_float(xa), ax, reverse, softness, mode, "cummin")
