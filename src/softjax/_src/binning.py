r"""Soft binning: ``histogram``, ``bincount`` and ``one_hot``.

A histogram bin holds the samples between two edges, a ``bincount`` bin the
samples that round to its integer. The soft versions replace the indicator of
a cell by the difference of the mode's soft step $S$
(:func:`~softjax._src.steps.sigmoidal`) at its two edges. These differences
telescope, so soft counts keep the hard totals. Dtype and infinity handling
are those of :mod:`softjax._src.searching`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from softjax._src.comparison import greater, greater_equal
from softjax._src.elementwise import check_mode
from softjax._src.kernels.row_parallel import map_replicated
from softjax._src.searching import _check_1d, _compute_dtype, _diff, _expand, _float_dtype
from softjax._src.steps import sigmoidal
from softjax._src.types import ElementwiseMode, SoftIndex, StepMode
from softjax._src.validation import (
    canonicalize_axis,
    ensure_float,
    validate_positive_int,
    validate_softness,
)

__all__ = ["bincount", "histogram", "one_hot"]


def histogram(
    a: ArrayLike,
    bins: int | ArrayLike = 10,
    range: Sequence[float] | None = None,  # noqa: A002
    weights: ArrayLike | None = None,
    density: bool | None = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> tuple[jax.Array, jax.Array]:
    r"""Soft ``jnp.histogram``: soft bin counts from differences of soft steps at the edges.

    With edges $e_0 < \dots < e_B$ (``jnp.histogram_bin_edges``: given, or
    ``bins`` equal intervals of ``range`` or of ``[a.min(), a.max()]``),
    sample $x_i$ and weight $w_i$ (default 1),

    $$c_b = \sum_i w_i\,\big[G(x_i - e_b) - G(x_i - e_{b+1})\big]
      \quad (b < B - 1), \qquad
      c_{B-1} = \sum_i w_i\,\big[G(x_i - e_{B-1}) - T(x_i - e_B)\big],$$

    where $G(d) = S(d + \varepsilon)$ is the soft $d \ge 0$
    (:func:`softjax.greater_equal`) and $T(d) = S(d - \varepsilon)$ the soft
    $d > 0$ (:func:`softjax.greater`): the bins are $[e_b, e_{b+1})$ and the
    last one includes its right edge, as in ``jnp.histogram``. The counts
    telescope: $\sum_b c_b = \sum_i w_i\,[G(x_i - e_0) - T(x_i - e_B)]$, the
    soft number of samples in $[e_0, e_B]$, which tends to the hard in-range
    count for $s \to 0$ (samples outside the range are dropped, softly).
    Cost $O(\mathrm{a.size} \cdot B)$.

    Args:
        a: samples, any shape (flattened).
        bins: number of equal-width bins (a static int), or a 1-D array of
            increasing edges.
        range: static ``(lower, upper)`` of the bins when ``bins`` is an
            int (default: the sample's minimum and maximum).
        weights: optional weights of ``a``'s shape.
        density: if true, divide the counts by the bin widths and by their
            sum (the soft counts' sum), as ``jnp.histogram`` does.
        softness: $s > 0$, width of each soft step (scalar).
        mode: ``"hard"`` (``jnp.histogram``), ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"``.

    Returns:
        Tuple ``(counts, edges)``: ``counts`` of shape ``(B,)`` and
            ``edges`` of shape ``(B + 1,)``, in the inexact dtype of ``a``
            and ``weights`` (hard mode: exactly ``jnp.histogram``'s result).
            NaN propagates.

    Raises:
        ValueError: ``bins < 1``, edges not 1-D, ``weights`` of another
            shape than ``a``, a ``range`` that is not two numbers, unknown
            ``mode``, or a non-positive concrete ``softness``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.1, 0.45, 0.5, 0.9, 1.0])
        >>> sj.histogram(x, bins=2, range=(0.0, 1.0), mode="hard")[0]
        Array([2., 3.], dtype=float32)
        >>> sj.histogram(x, bins=2, range=(0.0, 1.0), softness=0.02, mode="c1")[0]
        Array([2.34375, 2.15625], dtype=float32)
    """
    check_mode(mode)
    if np.ndim(bins) == 0:
        validate_positive_int("bins", bins, minimum=1)
    elif np.ndim(bins) != 1:
        raise ValueError(
            f"histogram: bins must be an int or a 1-D array of edges, got shape {np.shape(bins)}"
        )
    if range is not None and np.shape(range) != (2,):
        raise ValueError(f"histogram: range must be None or a (lower, upper) pair, got {range!r}")
    if weights is not None and np.shape(weights) != np.shape(a):
        raise ValueError(
            f"histogram: weights must have the shape of a, got {np.shape(weights)} and {np.shape(a)}"
        )
    if mode != "hard":
        validate_softness(softness)
    # A histogram reduces over every sample: on samples sharded over explicit
    # mesh axes it runs partitioned by XLA and returns replicated results
    # (jnp.histogram itself fails on such samples).
    operands = [jnp.asarray(a), jnp.asarray(softness)] + ([] if weights is None else [jnp.asarray(weights)])
    return map_replicated(
        lambda x, s, *w: _histogram(x, bins, range, w[0] if w else None, density, s, mode), *operands
    )


def _hard_histogram(
    x: jax.Array,
    bins: int | ArrayLike,
    range: Sequence[float] | None,  # noqa: A002
    weights: jax.Array | None,
    density: bool | None,
) -> tuple[jax.Array, jax.Array]:
    """``jnp.histogram``, step for step, with a ``compare_all`` insertion search.

    ``jnp.searchsorted``'s default method fails on samples typed with an
    explicit mesh axis; comparing every sample with every edge costs
    O(size * bins), as the soft histogram does.
    """
    # jnp.histogram's own dtype promotion, read off an unsharded abstract call.
    abstract = [jax.ShapeDtypeStruct(x.shape, x.dtype)]
    if weights is not None:
        abstract.append(jax.ShapeDtypeStruct(weights.shape, weights.dtype))
    dtype = jax.eval_shape(lambda *xw: jnp.histogram(xw[0], bins, range, *xw[1:])[0], *abstract).dtype
    w = jnp.ones_like(x) if weights is None else weights
    x, w = x.astype(dtype), w.astype(dtype)
    edges = jnp.histogram_bin_edges(x, bins, range, w)
    idx = jnp.searchsorted(edges, x, side="right", method="compare_all")
    idx = jnp.where(x == edges[-1], edges.shape[0] - 1, idx)
    counts = jnp.zeros(edges.shape[0], w.dtype).at[idx].add(w)[1:]
    if density:
        counts = counts / jnp.diff(edges) / counts.sum()
    return counts, edges


def _histogram(
    x: jax.Array,
    bins: int | ArrayLike,
    range: Sequence[float] | None,  # noqa: A002
    weights: jax.Array | None,
    density: bool | None,
    softness: jax.Array,
    mode: ElementwiseMode,
) -> tuple[jax.Array, jax.Array]:
    if mode == "hard":
        return _hard_histogram(x, bins, range, weights, density)
    dtype = _float_dtype(x) if weights is None else _float_dtype(x, weights)
    x = x.astype(dtype)
    edges = jnp.histogram_bin_edges(x, bins, range)
    ct = _compute_dtype(dtype)
    xc, e = x.reshape(-1).astype(ct), edges.astype(ct)
    s = jnp.asarray(softness, ct)
    lower = greater_equal(_diff(xc[:, None], e[:-1]), jnp.zeros((), ct), s, mode)
    d_upper = _diff(xc[:, None], e[1:])
    upper = jnp.concatenate(
        [
            greater_equal(d_upper[:, :-1], jnp.zeros((), ct), s, mode),
            greater(d_upper[:, -1:], jnp.zeros((), ct), s, mode),
        ],
        axis=1,
    )
    mass = lower - upper
    mass = jnp.where(mass < 0, 0.0, mass)  # a step at its band edge may round below 0
    if weights is not None:
        mass = mass * jnp.asarray(weights).reshape(-1, 1).astype(ct)
    counts = jnp.sum(mass, axis=0)
    if density:
        counts = counts / jnp.diff(e) / counts.sum()
    return counts.astype(dtype), edges


def _integer_cells(
    x: jax.Array, n: int, softness: float | ArrayLike, mode: StepMode, open_last: bool
) -> jax.Array:
    r"""Soft indicators of the cells $[j - \tfrac12, j + \tfrac12)$, $j = 0..n-1$, along a new last axis.

    The first cell is open below ($S(\cdot) = 1$ there); the last one open
    above if ``open_last``. ``x`` is in the compute dtype. Each of the
    $n + 1$ edge steps is evaluated once and shared by the two cells it
    separates, so the cells telescope; a cell is clamped at 0, since a
    piecewise step evaluated at its band edge may round a few ulps below 0.
    """
    k = jnp.arange(n + 1, dtype=x.dtype)
    steps = sigmoidal(_diff(x[..., None], k - 0.5), _expand(softness), mode)
    lower = jnp.where(k[:-1] == 0, 1.0, steps[..., :-1])
    upper = steps[..., 1:]
    if open_last:
        upper = jnp.where(k[1:] == n, 0.0, upper)
    cells = lower - upper
    return jnp.where(cells < 0, 0.0, cells)


def bincount(
    x: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    length: int,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jnp.bincount`` of real-valued ``x``: soft counts at the integers $0, \dots, L - 1$.

    Sample $x_i$ puts the mass of the soft cell of integer $j$,

    $$m_j(x) = S(x - j + \tfrac12) - S(x - j - \tfrac12), \qquad
      m_0(x) = 1 - S(x - \tfrac12),$$

    on bin $j$ (the cells of soft :func:`softjax.round`, whose value is
    $\sum_j j\,m_j$); bin 0 collects everything below $\tfrac12$, since
    ``jnp.bincount`` counts negative values at 0, and mass beyond
    $L - \tfrac12$ is dropped, as are values $\ge L$. The result is
    $\sum_i w_i\,m_j(x_i)$. At a half-integer the mass splits evenly
    between the two neighbours. Cost $O(\mathrm{x.size} \cdot L)$.

    Hard mode is ``jnp.bincount(x, weights, length=length)`` for integer
    ``x``; a float ``x`` is rounded half to even (``jnp.round``) first, the
    result is float (``x``'s dtype, promoted with ``weights``) and a NaN in
    ``x`` makes every count NaN.

    Args:
        x: 1-D array of values (integers, or reals to be counted at the
            nearest integer).
        weights: optional weights of ``x``'s shape.
        length: $L \ge 0$, the static number of bins (required: as under
            ``jit``, the output size cannot depend on the data).
        softness: $s > 0$, width of each soft step (scalar).
        mode: ``"hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.

    Returns:
        Array of shape ``(length,)``: hard mode on integer ``x``
            ``jnp.bincount``'s result; otherwise float counts (``x``'s float
            dtype, promoted with ``weights``). NaN propagates.

    Raises:
        ValueError: ``x`` not 1-D, ``weights`` of another shape,
            ``length < 0``, unknown ``mode``, or a non-positive concrete
            ``softness``.
        TypeError: ``length`` not an integer.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.0, 1.2, 0.9, 2.5])
        >>> sj.bincount(x, length=3, mode="hard")
        Array([1., 2., 1.], dtype=float32)
        >>> sj.bincount(x, length=3, softness=0.02, mode="c1")
        Array([1. , 2. , 0.5], dtype=float32)
    """
    check_mode(mode)
    length = validate_positive_int("length", length, minimum=0)
    x = jnp.asarray(x)
    if x.dtype == bool:
        x = x.astype(jnp.int32)
    _check_1d("bincount", "x", x)
    if weights is not None and np.shape(weights) != x.shape:
        raise ValueError(f"bincount: weights must have the shape of x, got {np.shape(weights)} and {x.shape}")
    if mode == "hard" and jnp.issubdtype(x.dtype, jnp.integer):
        return jnp.bincount(x, weights, length=length)
    dtype = _float_dtype(x) if weights is None else _float_dtype(ensure_float(x), weights)
    x = ensure_float(x)
    if mode == "hard":
        nan = jnp.isnan(x)
        idx = jnp.where(nan, 0, jnp.clip(jnp.round(x), -1, length)).astype(jnp.int32)
        counts = jnp.bincount(idx, weights, length=length).astype(dtype)
        return jnp.where(jnp.any(nan), jnp.nan, counts).astype(dtype)
    validate_softness(softness)
    ct = _compute_dtype(dtype)
    mass = _integer_cells(x.astype(ct), length, softness, mode, open_last=False)
    if weights is not None:
        mass = mass * jnp.asarray(weights).astype(ct)[:, None]
    return jnp.sum(mass, axis=0).astype(dtype)


def one_hot(
    i: ArrayLike,
    num_classes: int,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    dtype: DTypeLike | None = None,
    axis: int = -1,
) -> SoftIndex:
    r"""Soft ``jax.nn.one_hot`` of a real-valued position: a SoftIndex over the classes.

    Position $i$ gives class $j$ the probability of the soft cell
    $[j - \tfrac12, j + \tfrac12)$ of soft :func:`softjax.round`,

    $$p_j(i) = S(i - j + \tfrac12) - S(i - j - \tfrac12), \qquad
      p_0(i) = 1 - S(i - \tfrac12), \quad p_{L-1}(i) = S(i - L + \tfrac32),$$

    with the two end cells open so that each row lies on the simplex: the
    $p_j$ are non-negative and telescope to 1 (up to rounding). The mass sits
    on the integers within the band of $i$ (one or two neighbours for small
    softness), its mean $\sum_j j\,p_j$ is soft ``round(i)`` clipped to
    $[0, L - 1]$, and with ``mode="c0"``, ``softness=0.1`` (ramps of width
    1) it is exactly the linear interpolation between the two integers
    around $i$. For $s \to 0$ it tends to ``jax.nn.one_hot(jnp.round(i))``
    for $i$ in $[-\tfrac12, L - \tfrac12]$ off the half-integers (where the
    mass splits evenly); outside, the hard row is all zeros while the soft
    one stays on the simplex at the nearest end class. Cost
    $O(\mathrm{i.size} \cdot L)$, the size of the output.

    Args:
        i: positions, any shape (integers or reals).
        num_classes: $L \ge 1$, the static number of classes.
        softness: $s > 0$, width of each soft step (scalar or array
            broadcastable against ``i``).
        mode: ``"hard"`` (``jax.nn.one_hot`` of ``jnp.round(i)``),
            ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        dtype: output dtype (default: JAX's default float, as
            ``jax.nn.one_hot``); soft modes need a float dtype.
        axis: the axis of the output holding the classes.

    Returns:
        SoftIndex of ``i``'s shape with the class axis of length
            ``num_classes`` inserted at ``axis``.

    Raises:
        ValueError: ``num_classes < 1``, ``axis`` out of bounds, unknown
            ``mode``, or a non-positive concrete ``softness``.
        TypeError: a non-float ``dtype`` in a soft mode.

    Examples:
        >>> import softjax as sj
        >>> i = jnp.array([0.0, 1.25, 3.0])
        >>> sj.one_hot(i, 3, mode="hard")
        Array([[1., 0., 0.],
               [0., 1., 0.],
               [0., 0., 0.]], dtype=float32)
        >>> sj.one_hot(i, 3, mode="c0")
        Array([[1.  , 0.  , 0.  ],
               [0.  , 0.75, 0.25],
               [0.  , 0.  , 1.  ]], dtype=float32)
    """
    check_mode(mode)
    num_classes = validate_positive_int("num_classes", num_classes, minimum=1)
    i = jnp.asarray(i)
    if i.dtype == bool:
        i = i.astype(jnp.int32)
    out_axis = canonicalize_axis(axis, i.ndim + 1)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if mode == "hard":
        if jnp.issubdtype(i.dtype, jnp.integer):
            return jax.nn.one_hot(i, num_classes, dtype=dtype, axis=out_axis)
        # jax.nn.one_hot of the rounded float, without its float-input warning.
        shape = [1] * i.ndim
        shape.insert(out_axis, num_classes)
        classes = jax.lax.broadcasted_iota(i.dtype, shape, out_axis)
        return (jnp.expand_dims(jnp.round(i), out_axis) == classes).astype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"one_hot: dtype must be a float dtype in soft modes, got {dtype}")
    validate_softness(softness)
    x = ensure_float(i)
    ct = _compute_dtype(jnp.promote_types(x.dtype, dtype))
    p = _integer_cells(x.astype(ct), num_classes, softness, mode, open_last=True)
    return jnp.moveaxis(p, -1, out_axis).astype(dtype)
