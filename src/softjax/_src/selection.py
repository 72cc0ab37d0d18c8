"""Soft selection: indexing with SoftBools and SoftIndices.

Every operator is a plain linear contraction ("expected value of the selected
element"); with a one-hot SoftIndex it reproduces the ``jax.numpy`` /
``jax.lax`` result exactly (up to the float cast). Weights are not checked to
be non-negative or to sum to 1. A SoftIndex always carries its distribution
over the ``n`` source positions on its **last** axis.

Contractions use ``Precision.HIGHEST`` so that one-hot selection stays exact on
accelerators whose default float32 matmul precision is reduced.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src.elementwise import check_broadcast
from softjax._src.types import SoftBool, SoftIndex
from softjax._src.validation import canonicalize_axis, validate_positive_int

_HIGHEST = jax.lax.Precision.HIGHEST


def _contract(x: jax.Array, weights: jax.Array, axis: int) -> jax.Array:
    """``out[pre, b, post] = sum_i x[pre, i, post] * weights[b, i]`` (``b`` any shape)."""
    moved = jnp.moveaxis(x, axis, -1)
    out = jnp.tensordot(moved, weights, axes=([-1], [-1]), precision=_HIGHEST)
    p, q, m = axis, x.ndim - 1 - axis, weights.ndim - 1
    perm = [*range(p), *range(p + q, p + q + m), *range(p, p + q)]
    return jnp.transpose(out, perm)


def _check_last_axis(fn: str, name: str, soft_index: jax.Array, n: int, what: str) -> None:
    if soft_index.ndim == 0 or soft_index.shape[-1] != n:
        raise ValueError(
            f"{fn}: the last axis of {name} must have length n = {what} = {n} "
            f"(a distribution over the n positions), got {name}.shape={soft_index.shape}."
        )


def where(condition: SoftBool, x: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""Soft ``jnp.where``: the convex blend $x \cdot c + y \cdot (1 - c)$.

    The derivatives are $\partial/\partial x = c$, $\partial/\partial y = 1 - c$
    and $\partial/\partial c = x - y$. Where $c$ is exactly 1 or 0 the result is exactly ``x`` or ``y``, as in
    ``jnp.where``: the other branch contributes nothing, in value or
    gradient, even when it is infinite or NaN (``where(0.0, jnp.log(0.0),
    1.0)`` is 1 with finite gradients; a plain blend would give
    $0 \cdot \infty = \mathrm{NaN}$). There the derivative with respect to
    $c$ is $x - y$ when both branches are finite, and 0 when the unselected
    one is not.

    Args:
        condition: SoftBool $c$ (booleans work too).
        x: value where the condition holds.
        y: value where it does not.

    Returns:
        Array of the broadcast shape of ``condition``, ``x``, ``y``.

    Warning:
        Where $0 < c < 1$ both branches enter the blend, so an infinite branch
        makes the result infinite (NaN for $+\infty$ against $-\infty$, or
        for a NaN branch), and so are the gradients. Sanitise such branches
        first, e.g. with the autograd-safe ``sj.log`` / ``sj.div`` /
        ``sj.sqrt`` or ``jnp.nan_to_num``.

    Raises:
        ValueError: if the three operands do not broadcast.

    Examples:
        >>> import softjax as sj
        >>> sj.where(jnp.array([1.0, 0.25, 0.0]), jnp.array([1.0, 1.0, 1.0]), 0.0)
        Array([1.  , 0.25, 0.  ], dtype=float32)
    """
    check_broadcast("where", condition=condition, x=x, y=y)
    condition, x, y = jnp.asarray(condition), jnp.asarray(x), jnp.asarray(y)
    # An unselected non-finite branch is replaced by the selected one before
    # the blend (double where): 0 * inf would be NaN in the value, and the
    # select alone would still send NaN back through the product's gradient.
    # When the selected branch is not finite either, 0 stands in (inf * 1 +
    # 0 * 0 is inf, where inf * 1 + inf * 0 would be NaN).
    x = jnp.where((condition == 0) & ~jnp.isfinite(x), jnp.where(jnp.isfinite(y), y, 0), x)
    y = jnp.where((condition == 1) & ~jnp.isfinite(y), jnp.where(jnp.isfinite(x), x, 0), y)
    return x * condition + y * (1 - condition)


def take_along_axis(x: ArrayLike, soft_index: SoftIndex, axis: int | None = -1) -> jax.Array:
    r"""Soft ``jnp.take_along_axis``: $\mathrm{out}[b, j] = \sum_i x[b, i]\, p[b, j, i]$.

    Args:
        x: array of shape ``(..., n, ...)`` with ``n`` at position ``axis``.
        soft_index: SoftIndex $p$ of shape ``(..., k, ..., n)``: the ``k``
            picks at position ``axis``, the distribution over the ``n`` source
            positions last, other dimensions broadcast-compatible with ``x``'s.
            Must have ``x.ndim + 1`` dimensions.
        axis: axis of ``x`` to select along; ``None`` flattens ``x`` first
            (``soft_index`` is then ``(k, x.size)``).

    Returns:
        Array of shape ``(..., k, ...)`` (broadcast batch dimensions, ``k`` at
            position ``axis``).

    Raises:
        ValueError: wrong ``soft_index`` rank, wrong distribution length,
            incompatible batch dimensions, or ``axis`` out of bounds.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        >>> idx = jax.nn.one_hot(jnp.array([[0, 2], [1, 0]]), 3)
        >>> sj.take_along_axis(x, idx, axis=1)
        Array([[1., 3.],
               [5., 4.]], dtype=float32)
    """
    x, soft_index = jnp.asarray(x), jnp.asarray(soft_index)
    if axis is None:
        x, axis = jnp.ravel(x), 0
    axis = canonicalize_axis(axis, x.ndim)
    if soft_index.ndim != x.ndim + 1:
        raise ValueError(
            "take_along_axis: soft_index must have x.ndim + 1 = "
            f"{x.ndim + 1} dimensions (the integer index shape plus a trailing "
            f"distribution axis), got soft_index.shape={soft_index.shape} for "
            f"x.shape={x.shape}."
        )
    _check_last_axis("take_along_axis", "soft_index", soft_index, x.shape[axis], "x.shape[axis]")
    x_batch = x.shape[:axis] + x.shape[axis + 1 :]
    i_batch = soft_index.shape[:axis] + soft_index.shape[axis + 1 : -1]
    try:
        np.broadcast_shapes(x_batch, i_batch)
    except ValueError:
        raise ValueError(
            "take_along_axis: the dimensions of soft_index other than `axis` and the "
            f"last must broadcast against those of x; got x.shape={x.shape}, "
            f"soft_index.shape={soft_index.shape}, axis={axis}."
        ) from None
    out = jnp.einsum(
        "...n,...kn->...k",
        jnp.moveaxis(x, axis, -1),
        jnp.moveaxis(soft_index, axis, -2),
        precision=_HIGHEST,
    )
    return jnp.moveaxis(out, -1, axis)


def take(x: ArrayLike, soft_index: SoftIndex, axis: int | None = None) -> jax.Array:
    r"""Soft ``jnp.take``: $\mathrm{out}[\dots, j, \dots] = \sum_i x[\dots, i, \dots]\, p[j, i]$.

    Args:
        x: array; ``axis=None`` flattens it first.
        soft_index: SoftIndex $p$ of shape ``(k, n)`` (the basic form) or, as
            an extension, any ``(*idx_shape, n)`` with ``n = x.shape[axis]``
            (``x.size`` for ``axis=None``) — like ``jnp.take`` with an integer
            index array of shape ``idx_shape``.
        axis: axis to take along (``None``: the flattened array).

    Returns:
        Array of shape ``x.shape[:axis] + idx_shape + x.shape[axis+1:]``;
            ``(k,)`` for ``axis=None`` and a ``(k, n)`` index.

    Raises:
        ValueError: if the last axis of ``soft_index`` does not have length
            ``n``, or ``axis`` is out of bounds.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        >>> sj.take(x, jnp.array([[0.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.0, 0.0]]))
        Array([4. , 1.5], dtype=float32)
        >>> sj.take(x, jnp.array([[0.0, 1.0]]), axis=1)
        Array([[2.],
               [4.]], dtype=float32)
    """
    x, soft_index = jnp.asarray(x), jnp.asarray(soft_index)
    if axis is None:
        x, axis, what = jnp.ravel(x), 0, "x.size"
    else:
        axis, what = canonicalize_axis(axis, x.ndim), "x.shape[axis]"
    _check_last_axis("take", "soft_index", soft_index, x.shape[axis], what)
    return _contract(x, soft_index, axis)


def choose(soft_index: SoftIndex, choices: ArrayLike) -> jax.Array:
    r"""Soft ``jnp.choose``: $\mathrm{out}[\dots] = \sum_i \mathrm{choices}[i, \dots]\, p[\dots, i]$.

    Args:
        soft_index: SoftIndex $p$ of shape ``(..., n)`` with
            ``soft_index.ndim == choices.ndim``.
        choices: array of shape ``(n, ...)`` (or a sequence of ``n`` equally
            shaped arrays).

    Returns:
        Array of shape ``B = broadcast_shapes(choices.shape[1:], soft_index.shape[:-1])``.

    Raises:
        ValueError: mismatched ranks, ``n``, or non-broadcastable shapes.

    Examples:
        >>> import softjax as sj
        >>> sj.choose(jnp.array([[0.25, 0.75]]), jnp.array([[1.0, 2.0, 5.0], [3.0, 4.0, 7.0]]))
        Array([2.5, 3.5, 6.5], dtype=float32)
    """
    soft_index, choices = jnp.asarray(soft_index), jnp.asarray(choices)
    if choices.ndim == 0 or soft_index.ndim != choices.ndim:
        raise ValueError(
            "choose: soft_index must have shape (..., n) with soft_index.ndim == "
            f"choices.ndim and choices of shape (n, ...); got soft_index.shape="
            f"{soft_index.shape}, choices.shape={choices.shape}."
        )
    n = choices.shape[0]
    _check_last_axis("choose", "soft_index", soft_index, n, "choices.shape[0]")
    try:
        batch = np.broadcast_shapes(choices.shape[1:], soft_index.shape[:-1])
    except ValueError:
        raise ValueError(
            f"choose: choices.shape[1:]={choices.shape[1:]} and "
            f"soft_index.shape[:-1]={soft_index.shape[:-1]} are not broadcast-compatible."
        ) from None
    stacked = jnp.moveaxis(jnp.broadcast_to(choices, (n, *batch)), 0, -1)
    return jnp.einsum("...n,...n->...", stacked, soft_index, precision=_HIGHEST)


def dynamic_index_in_dim(
    x: ArrayLike, soft_index: SoftIndex, axis: int = 0, keepdims: bool = True
) -> jax.Array:
    r"""Soft ``jax.lax.dynamic_index_in_dim``: $\sum_i p_i\, x[\dots, i, \dots]$ along ``axis``.

    Args:
        x: array.
        soft_index: 1-D SoftIndex $p$ of length ``n = x.shape[axis]``. For
            several picks use :func:`take`.
        axis: axis to index.
        keepdims: keep ``axis`` with length 1 (default, as in JAX).

    Returns:
        ``x.shape`` with ``axis`` set to 1 (``keepdims=True``) or removed.

    Raises:
        ValueError: ``soft_index`` not 1-D or of the wrong length; bad ``axis``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([[10.0, 20.0], [30.0, 40.0]])
        >>> sj.dynamic_index_in_dim(x, jnp.array([0.0, 1.0]))
        Array([[30., 40.]], dtype=float32)
    """
    x, soft_index = jnp.asarray(x), jnp.asarray(soft_index)
    axis = canonicalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if soft_index.shape != (n,):
        raise ValueError(
            "dynamic_index_in_dim: soft_index must be 1-D of length n = x.shape[axis] = "
            f"{n}, got soft_index.shape={soft_index.shape} (use take / "
            "take_along_axis for batched indices)."
        )
    out = _contract(x, soft_index, axis)
    return jnp.expand_dims(out, axis) if keepdims else out


def _slice_weights(p: jax.Array, n: int, size: int, name: str, size_name: str) -> jax.Array:
    """``(size, n)`` matrix ``W[t, j] = q[j - t]``, ``q`` = ``p`` clamped to valid starts."""
    if p.shape != (n,):
        raise ValueError(f"{name} must be 1-D of length {n} (the sliced axis), got shape {p.shape}.")
    size = validate_positive_int(size_name, size, minimum=1)
    if size > n:
        raise ValueError(f"{size_name} must satisfy 0 < {size_name} <= {n}, got {size}.")
    m = n - size + 1  # valid starts 0..n-size
    # Clamp like JAX: all mass of starts > n - size moves onto n - size.
    q = jnp.concatenate([p[: m - 1], jnp.sum(p[m - 1 :], keepdims=True)])
    d = jnp.arange(n)[None, :] - jnp.arange(size)[:, None]
    valid = (d >= 0) & (d < m)
    return jnp.where(valid, q[jnp.clip(d, 0, m - 1)], 0)


def dynamic_slice_in_dim(
    x: ArrayLike, soft_start_index: SoftIndex, slice_size: int, axis: int = 0
) -> jax.Array:
    r"""Soft ``jax.lax.dynamic_slice_in_dim``: $\mathrm{out}[t] = \sum_i q_i\, x[i + t]$ along ``axis``.

    $q$ is the start distribution $p$ with the mass of every start
    $i > n - L$ moved onto $n - L$ ($L$ = ``slice_size``), i.e. out-of-range
    starts are **clamped** exactly like JAX does. (Deliberate deviation from
    prior implementations, which wrapped around circularly; identical for
    in-range starts.) Cost: $O(L n)$ for the weights plus the contraction.

    Args:
        x: array.
        soft_start_index: 1-D SoftIndex $p$ of length ``n = x.shape[axis]``.
        slice_size: $L$ with ``0 < L <= n``.
        axis: axis to slice.

    Returns:
        ``x.shape`` with ``axis`` replaced by ``slice_size``.

    Raises:
        ValueError: bad ``soft_start_index`` shape, ``slice_size`` or ``axis``.

    Examples:
        >>> import softjax as sj
        >>> sj.dynamic_slice_in_dim(jnp.arange(5.0), jax.nn.one_hot(4, 5), 3)
        Array([2., 3., 4.], dtype=float32)
    """
    x, p = jnp.asarray(x), jnp.asarray(soft_start_index)
    axis = canonicalize_axis(axis, x.ndim)
    w = _slice_weights(
        p,
        x.shape[axis],
        slice_size,
        "dynamic_slice_in_dim: soft_start_index",
        "slice_size",
    )
    return _contract(x, w, axis)


def dynamic_slice(
    x: ArrayLike, soft_start_indices: Sequence[SoftIndex], slice_sizes: Sequence[int]
) -> jax.Array:
    r"""Soft ``jax.lax.dynamic_slice``: :func:`dynamic_slice_in_dim` on every axis in turn.

    Out-of-range starts are clamped as in JAX (see
    :func:`dynamic_slice_in_dim`).

    Args:
        x: array.
        soft_start_indices: one 1-D SoftIndex per axis of ``x``, of lengths
            ``x.shape[d]``.
        slice_sizes: one int per axis, ``0 < slice_sizes[d] <= x.shape[d]``.

    Returns:
        Array of shape ``tuple(slice_sizes)``.

    Raises:
        ValueError: wrong numbers of starts/sizes or any per-axis violation
            (the message names the offending entry).

    Examples:
        >>> import softjax as sj
        >>> x = jnp.arange(12.0).reshape(3, 4)
        >>> starts = [jax.nn.one_hot(1, 3), jax.nn.one_hot(2, 4)]
        >>> sj.dynamic_slice(x, starts, (2, 2))
        Array([[ 6.,  7.],
               [10., 11.]], dtype=float32)
    """
    x = jnp.asarray(x)
    if len(soft_start_indices) != x.ndim or len(slice_sizes) != x.ndim:
        raise ValueError(
            "dynamic_slice: need one soft start index and one slice size per axis of x "
            f"(x.ndim = {x.ndim}), got len(soft_start_indices)={len(soft_start_indices)}, "
            f"len(slice_sizes)={len(slice_sizes)}."
        )
    weights = [
        _slice_weights(
            jnp.asarray(p),
            x.shape[d],
            size,
            f"dynamic_slice: soft_start_indices[{d}]",
            f"slice_sizes[{d}]",
        )
        for d, (p, size) in enumerate(zip(soft_start_indices, slice_sizes, strict=True))
    ]
    for d, w in enumerate(weights):
        x = _contract(x, w, d)
    return x
