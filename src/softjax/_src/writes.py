r"""Soft writes at a SoftIndex: the adjoints of the soft reads of :mod:`softjax._src.selection`.

A soft write is the expected value of the hard write when the position it
writes to is drawn from the SoftIndex: every position $j$ becomes the convex
blend

$$\mathrm{out}_j = \mathrm{operand}_j\,(1 - c_j) + \sum_s p_s\,\mathrm{written}_{s, j},$$

$c_j$ being the probability that position $j$ is written. The read of
:func:`softjax.dynamic_slice_in_dim` contracts ``x`` with the weights
$W[t, j] = q_{j - t}$; the write spreads ``update`` back with their
transpose, and $c_j = \sum_t W[t, j]$. With a one-hot SoftIndex these are the
``jax.lax`` / ``jax.numpy`` writes exactly (up to the float cast). Like the
reads, these operators take no ``mode`` or ``softness``: the softness lives in
the SoftIndex (e.g. from :func:`softjax.argmax` or :func:`softjax.one_hot`),
and its weights are not checked to be non-negative or to sum to 1.

Where a position is overwritten with probability exactly 1 (exactly 0), the
operand's (the update's) value there is not read, so a non-finite entry
contributes nothing, in value or gradient (as in :func:`softjax.where`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src.selection import _check_last_axis, _contract, _slice_weights
from softjax._src.types import SoftIndex
from softjax._src.validation import canonicalize_axis, ensure_float

__all__ = [
    "dynamic_update_index_in_dim",
    "dynamic_update_slice",
    "dynamic_update_slice_in_dim",
    "put_along_axis",
]


def _along(v: jax.Array, axis: int, ndim: int) -> jax.Array:
    """A 1-D ``v`` reshaped to broadcast along ``axis`` of an ``ndim``-array."""
    return v.reshape([-1 if d == axis else 1 for d in range(ndim)])


def _unread(value: jax.Array, weight: jax.Array) -> jax.Array:
    """``value`` with its non-finite entries set to 0 where ``weight`` is exactly 0.

    ``0 * inf`` would be NaN (and the product's gradient too); those entries
    are not written, so they must not be read.
    """
    return jnp.where((weight == 0) & ~jnp.isfinite(value), 0, value)


def _write_slices(operand: jax.Array, update: jax.Array, weights: Sequence[jax.Array | None]) -> jax.Array:
    """``operand (1 - C) + U``: ``weights[d]`` is axis ``d``'s ``(size, n)`` matrix ``W``.

    ``None`` stands for an axis that ``update`` covers entirely (start 0).
    ``U`` contracts ``update`` with every ``W`` (broadcast when ``size = 1``,
    so that a non-finite update never meets a zero weight) and ``C`` is the
    product of the per-axis coverages ``sum_t W[t, j]``.
    """
    written, cover = update, jnp.ones((), operand.dtype)
    for d, w in enumerate(weights):
        if w is None:
            continue
        if w.shape[0] == 1:
            wd = _along(w[0], d, operand.ndim)
            written = _unread(written, wd) * wd
        else:
            written = _contract(written, w.T, d)
        cover = cover * _along(jnp.sum(w, axis=0), d, operand.ndim)
    keep = 1 - cover
    return _unread(operand, keep) * keep + written


def _check_update(fn: str, operand: jax.Array, update: jax.Array) -> None:
    if update.ndim != operand.ndim or any(u > o for u, o in zip(update.shape, operand.shape, strict=True)):
        raise ValueError(
            f"{fn}: update must have operand's rank and fit inside it (update.shape[d] <= "
            f"operand.shape[d]), got update.shape={update.shape}, operand.shape={operand.shape}."
        )


def dynamic_update_slice_in_dim(
    operand: ArrayLike, update: ArrayLike, soft_start_index: SoftIndex, axis: int
) -> jax.Array:
    r"""Soft ``jax.lax.dynamic_update_slice_in_dim``: write ``update`` at a soft start along ``axis``.

    With $L$ = ``update.shape[axis]``, $q$ the start distribution $p$ with the
    mass of every start $i > n - L$ moved onto $n - L$ (clamped like JAX, and
    like :func:`softjax.dynamic_slice_in_dim`), $W[t, j] = q_{j - t}$ and
    $c_j = \sum_t W[t, j]$ (the probability that $j$ is overwritten):

    $$\mathrm{out}[j] = \mathrm{operand}[j]\,(1 - c_j) + \sum_t W[t, j]\, \mathrm{update}[t],$$

    the expected value of the hard write over the starts. The other axes of
    ``update`` are written from index 0, as in JAX. The derivatives are
    $1 - c_j$ (operand), $W[t, j]$ (update) and, with respect to $q_s$, the
    update's slice minus the operand's under it. Cost: $O(L n)$ for the
    weights plus one contraction.

    Args:
        operand: array of shape ``(..., n, ...)`` with ``n`` at ``axis``.
        update: array of ``operand``'s rank, no larger along any axis, with
            ``0 < L <= n`` along ``axis``.
        soft_start_index: 1-D SoftIndex $p$ of length ``n`` over the start
            positions (starts beyond ``n - L`` are clamped, as in JAX).
        axis: axis of ``operand`` to write along.

    Returns:
        Array of ``operand``'s shape, in the common float dtype of the
            arguments; ``jax.lax.dynamic_update_slice_in_dim(operand, update,
            i, axis)`` for the one-hot index of ``i`` (finite ``update``).

    Raises:
        ValueError: ``update`` of another rank or larger than ``operand``,
            ``soft_start_index`` not of shape ``(n,)``, or a bad ``axis``.

    Examples:
        >>> import softjax as sj
        >>> operand = jnp.zeros(5)
        >>> update = jnp.array([1.0, 2.0])
        >>> sj.dynamic_update_slice_in_dim(operand, update, jax.nn.one_hot(1, 5), 0)
        Array([0., 1., 2., 0., 0.], dtype=float32)
        >>> sj.dynamic_update_slice_in_dim(operand, update, jnp.array([0.0, 0.5, 0.5, 0.0, 0.0]), 0)
        Array([0. , 0.5, 1.5, 1. , 0. ], dtype=float32)
    """
    fn = "dynamic_update_slice_in_dim"
    operand, update = jnp.asarray(operand), jnp.asarray(update)
    p = ensure_float(soft_start_index)
    axis = canonicalize_axis(axis, operand.ndim)
    _check_update(fn, operand, update)
    weights: list[jax.Array | None] = []
    for d, (size, n) in enumerate(zip(update.shape, operand.shape, strict=True)):
        if d == axis:
            weights.append(_slice_weights(p, n, size, f"{fn}: soft_start_index", "update.shape[axis]"))
        elif size == n:
            weights.append(None)
        else:  # a hard start at 0
            weights.append(jnp.eye(size, n, dtype=p.dtype))
    return _write_slices(operand, update, weights)


def dynamic_update_index_in_dim(
    operand: ArrayLike, update: ArrayLike, soft_index: SoftIndex, axis: int
) -> jax.Array:
    r"""Soft ``jax.lax.dynamic_update_index_in_dim``: $\mathrm{operand}\,(1 - p) + \mathrm{update}\,p$.

    Position $j$ of ``axis`` is overwritten with probability $p_j$:

    $$\mathrm{out}[\dots, j, \dots] = \mathrm{operand}[\dots, j, \dots]\,(1 - p_j)
      + \mathrm{update}[\dots, 0, \dots]\, p_j,$$

    a convex blend (for $0 \le p_j \le 1$) of the operand and the update,
    broadcast along ``axis``. It is the adjoint of
    :func:`softjax.dynamic_index_in_dim`: the derivative with respect to
    ``update`` sums $p_j$ over the positions, and that with respect to $p_j$
    is $\mathrm{update} - \mathrm{operand}[j]$.

    Args:
        operand: array of shape ``(..., n, ...)`` with ``n`` at ``axis``.
        update: array of ``operand``'s shape with length 1 along ``axis``,
            or without ``axis`` (as in JAX).
        soft_index: 1-D SoftIndex $p$ of length ``n``.
        axis: axis of ``operand`` to write along.

    Returns:
        Array of ``operand``'s shape, in the common float dtype of the
            arguments; ``jax.lax.dynamic_update_index_in_dim(operand, update,
            i, axis)`` for the one-hot index of ``i``.

    Raises:
        ValueError: ``update`` of the wrong shape, ``soft_index`` not of
            shape ``(n,)``, or a bad ``axis``.

    Examples:
        >>> import softjax as sj
        >>> operand = jnp.zeros((3, 2))
        >>> update = jnp.array([1.0, 2.0])
        >>> sj.dynamic_update_index_in_dim(operand, update, jax.nn.one_hot(2, 3), 0)
        Array([[0., 0.],
               [0., 0.],
               [1., 2.]], dtype=float32)
        >>> sj.dynamic_update_index_in_dim(operand, update, jnp.array([0.0, 0.25, 0.75]), 0)
        Array([[0.  , 0.  ],
               [0.25, 0.5 ],
               [0.75, 1.5 ]], dtype=float32)
    """
    fn = "dynamic_update_index_in_dim"
    operand, update = jnp.asarray(operand), jnp.asarray(update)
    p = ensure_float(soft_index)
    axis = canonicalize_axis(axis, operand.ndim)
    if update.ndim == operand.ndim - 1:
        update = jnp.expand_dims(update, axis)
    expected = (*operand.shape[:axis], 1, *operand.shape[axis + 1 :])
    if update.shape != expected:
        raise ValueError(
            f"{fn}: update must have shape {expected} (operand.shape with length 1 at axis) "
            f"or {operand.shape[:axis] + operand.shape[axis + 1 :]}, got update.shape={update.shape}."
        )
    n = operand.shape[axis]
    if p.shape != (n,):
        raise ValueError(
            f"{fn}: soft_index must be 1-D of length n = operand.shape[axis] = {n}, "
            f"got soft_index.shape={p.shape}."
        )
    weights: list[jax.Array | None] = [None] * operand.ndim
    weights[axis] = p[None]
    return _write_slices(operand, update, weights)


def dynamic_update_slice(
    operand: ArrayLike, update: ArrayLike, soft_start_indices: Sequence[SoftIndex]
) -> jax.Array:
    r"""Soft ``jax.lax.dynamic_update_slice``: a soft start on every axis, drawn independently.

    Axis $d$ has the start distribution $p^{(d)}$ (length ``operand.shape[d]``,
    clamped like JAX so that the update fits) and the weights
    $W_d[t, j] = q^{(d)}_{j - t}$ of :func:`dynamic_update_slice_in_dim`.
    Under the product of the start distributions,

    $$\mathrm{out} = \mathrm{operand} \cdot \Big(1 - \prod_d c^{(d)}\Big)
      + \mathrm{update} \times_1 W_1 \cdots \times_k W_k,$$

    with $c^{(d)}_j = \sum_t W_d[t, j]$ the coverage of axis $d$ and
    $\times_d W_d$ the contraction of axis $d$ with $W_d$: the expected value
    of the hard write. It is the adjoint of :func:`softjax.dynamic_slice`.

    Args:
        operand: array.
        update: array of ``operand``'s rank with
            ``0 < update.shape[d] <= operand.shape[d]``.
        soft_start_indices: one 1-D SoftIndex per axis of ``operand``, of
            length ``operand.shape[d]``.

    Returns:
        Array of ``operand``'s shape, in the common float dtype of the
            arguments; ``jax.lax.dynamic_update_slice(operand, update, idx)``
            for one-hot starts at ``idx`` (finite ``update``).

    Raises:
        ValueError: wrong number of starts, ``update`` of another rank or
            larger than ``operand``, or a start of the wrong shape (the
            message names the offending entry).

    Examples:
        >>> import softjax as sj
        >>> operand = jnp.zeros((3, 4))
        >>> update = jnp.ones((2, 2))
        >>> starts = [jax.nn.one_hot(1, 3), jax.nn.one_hot(2, 4)]
        >>> sj.dynamic_update_slice(operand, update, starts)
        Array([[0., 0., 0., 0.],
               [0., 0., 1., 1.],
               [0., 0., 1., 1.]], dtype=float32)
        >>> starts = [jax.nn.one_hot(0, 3), jnp.array([0.5, 0.0, 0.5, 0.0])]
        >>> sj.dynamic_update_slice(operand, update, starts)
        Array([[0.5, 0.5, 0.5, 0.5],
               [0.5, 0.5, 0.5, 0.5],
               [0. , 0. , 0. , 0. ]], dtype=float32)
    """
    fn = "dynamic_update_slice"
    operand, update = jnp.asarray(operand), jnp.asarray(update)
    if len(soft_start_indices) != operand.ndim:
        raise ValueError(
            f"{fn}: soft_start_indices needs one soft start index per axis of operand "
            f"(operand.ndim = {operand.ndim}), got {len(soft_start_indices)}."
        )
    _check_update(fn, operand, update)
    weights: list[jax.Array | None] = [
        _slice_weights(
            ensure_float(p),
            n,
            size,
            f"{fn}: soft_start_indices[{d}]",
            f"update.shape[{d}]",
        )
        for d, (p, size, n) in enumerate(zip(soft_start_indices, update.shape, operand.shape, strict=True))
    ]
    return _write_slices(operand, update, weights)


def put_along_axis(arr: ArrayLike, soft_index: SoftIndex, values: ArrayLike, axis: int | None) -> jax.Array:
    r"""Soft ``jnp.put_along_axis`` (``inplace=False``): ``m`` soft writes per row, applied in order.

    The integer indices of ``jnp.put_along_axis`` (shape ``idx_shape``, with
    ``m`` writes at position ``axis``) become a SoftIndex of shape
    ``idx_shape + (n,)`` (the layout of :func:`softjax.take_along_axis`). Write $k$
    overwrites position $j$ with probability $p_{kj}$, and the writes are
    applied in order (a later write wins):

    $$\mathrm{out}_j = \mathrm{arr}_j \prod_{k} (1 - p_{kj})
      + \sum_k v_k\, p_{kj} \prod_{l > k} (1 - p_{lj}),$$

    a convex combination of $\mathrm{arr}_j$ and the values (its weights sum
    to 1 when every $p_{kj} \in [0, 1]$). For ``m = 1`` it is
    $\mathrm{arr}\,(1 - p) + v\,p$, the adjoint of
    :func:`softjax.take_along_axis`. With one-hot rows at distinct positions
    it equals ``jnp.put_along_axis(arr, idx, values, axis, inplace=False)``
    exactly; at repeated positions the last write wins (JAX leaves their
    order unspecified).

    Args:
        arr: array of shape ``(..., n, ...)`` with ``n`` at ``axis``.
        soft_index: SoftIndex of shape ``idx_shape + (n,)`` with
            ``arr.ndim + 1`` dimensions: the ``m`` writes at position
            ``axis``, the distribution over the ``n`` positions last, the
            other dimensions broadcastable to ``arr``'s.
        values: values written, broadcastable to ``idx_shape``.
        axis: axis of ``arr`` to write along; ``None`` writes into the
            flattened array (``soft_index`` then has shape ``(m, arr.size)``)
            and returns ``arr``'s shape, as JAX does.

    Returns:
        Array of ``arr``'s shape, in the common float dtype of the arguments.

    Raises:
        ValueError: ``soft_index`` of the wrong rank or distribution length,
            batch dimensions that do not broadcast to ``arr``'s, ``values``
            not broadcastable to ``idx_shape``, or a bad ``axis``.

    Examples:
        >>> import softjax as sj
        >>> arr = jnp.zeros((2, 3))
        >>> idx = jax.nn.one_hot(jnp.array([[2], [0]]), 3)
        >>> sj.put_along_axis(arr, idx, jnp.array([[5.0], [7.0]]), axis=1)
        Array([[0., 0., 5.],
               [7., 0., 0.]], dtype=float32)
        >>> soft = jnp.array([[[0.0, 0.5, 0.5]], [[1.0, 0.0, 0.0]]])
        >>> sj.put_along_axis(arr, soft, 4.0, axis=1)
        Array([[0., 2., 2.],
               [4., 0., 0.]], dtype=float32)
    """
    fn = "put_along_axis"
    arr, p, values = jnp.asarray(arr), ensure_float(soft_index), jnp.asarray(values)
    shape = arr.shape
    if axis is None:
        arr, axis = jnp.ravel(arr), 0
    axis = canonicalize_axis(axis, arr.ndim)
    if p.ndim != arr.ndim + 1:
        raise ValueError(
            f"{fn}: soft_index must have arr.ndim + 1 = {arr.ndim + 1} dimensions (the integer "
            f"index shape plus a trailing distribution axis), got soft_index.shape={p.shape} "
            f"for arr.shape={arr.shape}."
        )
    _check_last_axis(fn, "soft_index", p, arr.shape[axis], "arr.shape[axis]")
    idx_shape = p.shape[:-1]
    arr_batch = arr.shape[:axis] + arr.shape[axis + 1 :]
    try:
        fits = np.broadcast_shapes(arr_batch, idx_shape[:axis] + idx_shape[axis + 1 :]) == arr_batch
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{fn}: the dimensions of soft_index other than `axis` and the last must broadcast "
            f"to those of arr; got arr.shape={arr.shape}, soft_index.shape={p.shape}, axis={axis}."
        )
    try:
        values = jnp.broadcast_to(values, idx_shape)
    except ValueError:
        raise ValueError(
            f"{fn}: values must broadcast to the index shape soft_index.shape[:-1]={idx_shape}, "
            f"got values.shape={values.shape}."
        ) from None
    a = jnp.moveaxis(arr, axis, -1)  # (..., n)
    pm = jnp.moveaxis(p, axis, -2)  # (..., m, n)
    v = jnp.moveaxis(values, axis, -1)[..., None]  # (..., m, 1)
    keep = 1 - pm
    # after[k] = prod_{l >= k} (1 - p_l): the chance that no write from k on hits j.
    after = jnp.flip(jnp.cumprod(jnp.flip(keep, -2), axis=-2), -2)
    survives = jnp.concatenate([after[..., 1:, :], jnp.ones_like(after[..., :1, :])], axis=-2)
    w = pm * survives  # the chance that write k is the last one at j
    written = jnp.sum(_unread(v, w) * w, axis=-2)
    kept = jnp.prod(keep, axis=-2)  # 1 for m = 0
    out = _unread(a, kept) * kept + written  # kept and written broadcast to a's shape
    return jnp.moveaxis(out, -1, axis).reshape(shape)
