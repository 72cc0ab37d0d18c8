r"""Ready-made differentiable objectives built on soft ranks and sorts (``softjax.losses``).

Every function takes keyword-only ``softness`` and ``mode`` (``"hard"``: the
exact metric; ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``: its relaxation) and,
where a rank or sort is used, ``method`` (default ``"fast_soft_sort"``: the
projection onto the permutahedron, exact and O(n log n) per row for the values
and every derivative; any of the six methods of :func:`softjax.rank` /
:func:`softjax.sort` is accepted). The axis-wise functions reduce along
``axis`` (default ``-1``, the trailing axis) and keep the other axes as a batch.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.comparison import less_equal
from softjax._src.methods import registry
from softjax._src.sorting import rank, sort
from softjax._src.steps import softrelu
from softjax._src.types import Method, Mode
from softjax._src.validation import (
    MODES,
    canonicalize_axis,
    concrete_or_none,
    ensure_float,
    validate_mode,
    validate_positive_int,
    validate_softness,
)

# --- shared helpers ------------------------------------------------------------


def _check(mode: Any, softness: Any, method: Any = None) -> None:
    """Validate ``mode``/``softness`` (and ``method``, also in hard mode)."""
    aw.check_mode_and_softness(mode, softness)
    if method is not None:
        registry.validate(method, "values")


def _last(x: jax.Array, axis: Any, name: str) -> jax.Array:
    """``x`` with ``axis`` moved last (``x`` at least 1-D, the axis non-empty)."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    x = jnp.moveaxis(x, canonicalize_axis(axis, x.ndim), -1)
    if x.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty axis (got length 0 along axis={axis})")
    return x


def _pair(a: ArrayLike, b: ArrayLike, axis: Any, names: tuple[str, str]) -> tuple[jax.Array, jax.Array]:
    """Two float arrays broadcast together, ``axis`` moved last, one common float dtype."""
    a, b = ensure_float(a), ensure_float(b)
    try:
        shape = jnp.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{names[0]} and {names[1]} must have broadcastable shapes, got {a.shape} and {b.shape}"
        ) from None
    dtype = jnp.result_type(a, b)
    a = _last(jnp.broadcast_to(a, shape).astype(dtype), axis, names[0])
    b = _last(jnp.broadcast_to(b, shape).astype(dtype), axis, names[1])
    return a, b


def _average_ranks(x: jax.Array) -> jax.Array:
    """Ascending ranks in ``[1, n]`` along the last axis, ties sharing their average rank.

    Piecewise constant, so computed without gradient: ``(lo + hi + 1) / 2`` with
    ``lo``/``hi`` the numbers of elements below / not above each element.
    """
    x = jax.lax.stop_gradient(x)
    s = jnp.sort(x, axis=-1)

    def row(srow: jax.Array, xrow: jax.Array) -> jax.Array:
        lo = jnp.searchsorted(srow, xrow, side="left", method="sort")
        hi = jnp.searchsorted(srow, xrow, side="right", method="sort")
        return (lo + hi + 1).astype(x.dtype) / 2

    ranks: jax.Array = jnp.vectorize(row, signature="(n),(n)->(n)")(s, x)
    return ranks


def _pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pearson correlation along the last axis; 0 (with zero gradient) where a row is constant.

    Rows are shifted by their first element before centring, so a constant row
    centres to exactly zero and the guard is an exact test.
    """
    a = a - a[..., :1]
    b = b - b[..., :1]
    a = a - jnp.mean(a, axis=-1, keepdims=True)
    b = b - jnp.mean(b, axis=-1, keepdims=True)
    cov = jnp.sum(a * b, axis=-1)
    va = jnp.sum(a * a, axis=-1)
    vb = jnp.sum(b * b, axis=-1)
    ok = (va > 0) & (vb > 0)
    den = jnp.sqrt(jnp.where(ok, va, 1.0)) * jnp.sqrt(jnp.where(ok, vb, 1.0))
    corr = jnp.where(ok, cov / den, 0.0)
    # rounding may leave |corr| a few ulps above 1: clip the value, keep the gradient
    return corr + jax.lax.stop_gradient(jnp.clip(corr, -1.0, 1.0) - corr)


def _static_int(name: str, value: Any) -> int:
    """A positive static integer (``True``/``False`` are rejected, not read as 1/0)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return validate_positive_int(name, value)


def _safe_ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den`` where ``den > 0``, else 0 (zero gradient there, double where)."""
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


# --- spearman --------------------------------------------------------------------


def spearman(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "fast_soft_sort",
) -> jax.Array:
    r"""Soft Spearman correlation: Pearson's of the soft ranks of ``pred`` and the ranks of ``target``.

    $$\rho = \frac{\sum_i (r_i - \bar r)(t_i - \bar t)}
    {\sqrt{\sum_i (r_i - \bar r)^2}\,\sqrt{\sum_i (t_i - \bar t)^2}}$$

    with $r$ the soft ranks of ``pred`` (:func:`softjax.rank`, ascending) and
    $t$ the hard ranks of ``target``, ties sharing their average rank (as
    ``scipy.stats.spearmanr``). In ``mode="hard"`` $r$ is the tie-averaged
    hard rank too, so the result is exactly Spearman's $\rho$. The soft ranks
    of ``method="fast_soft_sort"`` (the default: O(n log n) per row, exact)
    give tied elements equal ranks, like the hard definition. Use
    ``1 - spearman(...)`` as a loss. No gradient flows to ``target``.

    A row whose ranks are constant (constant ``pred`` or ``target``, or
    ``n = 1``) has no correlation: the result is 0 there, with a zero
    (finite) gradient.

    Args:
        pred: predictions, any shape with at least one axis.
        target: targets, broadcastable with ``pred``.
        axis: the axis along which the rows are correlated (default ``-1``).
        softness: ``s > 0`` of the soft ranks (scalar; scale-free, the rows
            are standardized first); ``s -> 0`` recovers the hard ranks.
        mode: ``"hard"`` (exact Spearman), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"`` (the relaxation of the ranks).
        method: the soft-rank method (default ``"fast_soft_sort"``; any
            method of :func:`softjax.rank`).

    Returns:
        The correlation in ``[-1, 1]``: the broadcast shape of ``pred`` and
            ``target`` without ``axis``.

    Examples:
        >>> import softjax as sj
        >>> pred = jnp.array([0.1, 0.4, 0.35, 0.8])
        >>> target = jnp.array([1.0, 2.0, 3.0, 4.0])
        >>> sj.losses.spearman(pred, target, mode="hard")
        Array(0.8, dtype=float32)
        >>> sj.losses.spearman(pred, target, softness=1.0)
        Array(0.91022..., dtype=float32)
    """
    _check(mode, softness, method)
    p, t = _pair(pred, target, axis, ("pred", "target"))
    rt = _average_ranks(t)
    if mode == "hard":
        rp = _average_ranks(p)
    else:
        rp = rank(p, axis=-1, softness=softness, mode=mode, method=method, descending=False)
    return _pearson(rp, rt)


# --- ndcg ------------------------------------------------------------------------


def _discount(ranks: jax.Array) -> jax.Array:
    return 1.0 / jnp.log2(1.0 + ranks)


def ndcg(
    scores: ArrayLike,
    relevance: ArrayLike,
    k: int | None = None,
    *,
    axis: int = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "fast_soft_sort",
) -> jax.Array:
    r"""Soft NDCG@k: normalized discounted cumulative gain with soft ranks of ``scores``.

    $$\mathrm{NDCG@}k = \frac{\sum_i g_i\, w_i / \log_2(1 + r_i)}
    {\sum_{j=1}^{\min(k, n)} g_{[j]} / \log_2(1 + j)},\qquad g_i = 2^{\mathrm{rel}_i} - 1,$$

    with $r_i$ the soft descending rank of ``scores`` (rank 1 = highest score;
    :func:`softjax.rank`), $g_{[j]}$ the $j$-th largest gain (the ideal DCG
    from the hard sort of ``relevance``) and $w_i$ the cutoff weight: without
    ``k`` $w_i = 1$; with ``k`` it is the soft indicator of $r_i \le k$,

    $$w_i = 1 - S\big((r_i - k - \tfrac12)/\tau\big),\qquad \tau = \min(s, \tfrac1{10}),$$

    a step of the same ``mode`` (:func:`softjax.less_equal`) in rank units,
    centred half way between ranks $k$ and $k + 1$ and at most one rank wide:
    in ``"c0"``, ``"c1"``, ``"c2"`` (band $\pm 5\tau$) it is exactly 1 up to
    rank $k$ and 0 from rank $k + 1$ on, a ramp in between (linear for
    ``"c0"``), so all the softness of the ranking is in the ranks; in
    ``"smooth"`` (logistic) it leaks $\sigma(-5) \approx 0.7\%$ one rank
    away. It becomes the hard cutoff as $s \to 0$.

    ``mode="hard"`` is the exact NDCG@k of the ranking by ``scores``, ties
    broken by position (the earlier element ranks higher, as a stable
    ``jnp.argsort`` of ``-scores`` and ``jax.lax.top_k``; ``sklearn``'s
    ``ndcg_score`` instead averages over tied orders). A row whose ideal DCG
    is 0 (no relevant item) has NDCG 0, with zero gradient (as ``sklearn``).
    Use ``1 - ndcg(...)`` as a loss; ``relevance`` is expected non-negative.

    Args:
        scores: predicted scores, any shape with at least one axis.
        relevance: graded relevance labels, broadcastable with ``scores``.
        k: cutoff (a static ``int >= 1``; ``k >= n`` or ``None`` means no
            cutoff).
        axis: the axis holding the items of one query (default ``-1``).
        softness: ``s > 0`` (scalar) of the soft ranks (scale-free, the rows
            are standardized first); the cutoff step has width
            ``min(s, 0.1)`` ranks. ``s -> 0`` recovers the hard NDCG.
        mode: ``"hard"`` (exact NDCG@k), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"`` (the relaxation of the ranks and of the cutoff).
        method: the soft-rank method (default ``"fast_soft_sort"``: O(n log n)
            per query, exact; any method of :func:`softjax.rank`).

    Returns:
        NDCG in ``[0, 1]`` (for non-negative relevance): the broadcast shape
            of ``scores`` and ``relevance`` without ``axis``.

    Examples:
        >>> import softjax as sj
        >>> scores = jnp.array([2.0, 0.5, 1.0, -1.0])
        >>> relevance = jnp.array([3.0, 0.0, 1.0, 2.0])
        >>> sj.losses.ndcg(scores, relevance, k=3, mode="hard")
        Array(0.812424..., dtype=float32)
        >>> sj.losses.ndcg(scores, relevance, k=3, softness=0.5)
        Array(0.80676..., dtype=float32)
    """
    _check(mode, softness, method)
    s, rel = _pair(scores, relevance, axis, ("scores", "relevance"))
    n = s.shape[-1]
    kk = n if k is None else min(_static_int("k", k), n)
    r = rank(s, axis=-1, softness=softness, mode=mode, method=method, descending=True)
    gains = jnp.expm1(rel * math.log(2.0))
    terms = gains * _discount(r)
    if kk < n:
        if mode == "hard":
            terms = jnp.where(r <= kk, terms, 0.0)
        else:
            width = jnp.minimum(jnp.asarray(softness, s.dtype), 0.1)
            terms = terms * less_equal(r, kk + 0.5, softness=width, mode=mode)
    dcg = jnp.sum(terms, axis=-1)
    ideal = jnp.flip(jnp.sort(gains, axis=-1), axis=-1)[..., :kk]
    idcg = jnp.sum(ideal * _discount(jnp.arange(1, kk + 1, dtype=s.dtype)), axis=-1)
    return _safe_ratio(dcg, idcg)


# --- top-k accuracy ----------------------------------------------------------------


def top_k_accuracy_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    k: int = 1,
    *,
    axis: int = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "fast_soft_sort",
) -> jax.Array:
    r"""Soft top-k error per example: a relaxed ``1 - [label in top k]``.

    With $y$ the label's logit and $t$ the soft $k$-th largest of the *other*
    logits (the descending soft :func:`softjax.sort` of the logits with the
    label's entry replaced by the row minimum),

    $$\ell = 1 - S\big((y - t - \varepsilon)/s\big) = \mathrm{less\_equal}(y, t),$$

    $S$ the step of ``mode`` (:func:`softjax.less_equal`). The label is in the
    top $k$ exactly when $y > t$, so $\ell \to$ the 0/1 top-k error as
    $s \to 0$ (an exact tie $y = t$ counts as a miss). ``mode="hard"`` is
    exactly ``1 - [label in jax.lax.top_k(logits, k)[1]]`` (ties broken
    towards the lower class index). ``k`` equal to the number of classes gives
    0. Returned per example (average it for the batch loss; its mean in
    ``mode="hard"`` is ``1 - top-k accuracy``). Like every relaxed 0/1 loss its
    gradient vanishes far from the decision boundary; a larger ``softness``
    widens the band that receives gradient.

    Args:
        logits: class scores, shape ``batch + (C,)`` with the classes on ``axis``.
        labels: integer class indices in ``[0, C)``, shape ``batch`` (the
            shape of ``logits`` without ``axis``).
        k: a static ``int``, ``1 <= k <= C``.
        axis: the class axis of ``logits`` (default ``-1``).
        softness: ``s > 0`` (scalar): the width of the step in logit units,
            also passed to the soft sort (scale-free there, the logits are
            standardized first); ``s -> 0`` recovers the 0/1 error.
        mode: ``"hard"`` (exact 0/1 top-k error), ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"`` (the step and the sort).
        method: the soft-sort method for $t$ (default ``"fast_soft_sort"``:
            O(C log C) per example, exact; any method of :func:`softjax.sort`).

    Returns:
        The per-example error in ``[0, 1]``, shape ``labels.shape``.

    Examples:
        >>> import softjax as sj
        >>> logits = jnp.array([[2.0, 1.0, 0.1], [0.5, 0.2, 3.0]])
        >>> labels = jnp.array([1, 1])
        >>> sj.losses.top_k_accuracy_loss(logits, labels, k=2, mode="hard")
        Array([0., 1.], dtype=float32)
        >>> sj.losses.top_k_accuracy_loss(logits, labels, k=2, softness=0.5)
        Array([0.14185..., 0.64565...], dtype=float32)
    """
    _check(mode, softness, method)
    x = _last(ensure_float(logits), axis, "logits")
    c = x.shape[-1]
    kk = _static_int("k", k)
    if kk > c:
        raise ValueError(f"k must be <= the number of classes {c}, got k={kk}")
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be an integer array of class indices, got dtype {labels.dtype}")
    if labels.shape != x.shape[:-1]:
        raise ValueError(
            f"labels must have the shape of logits without axis, {x.shape[:-1]}, got {labels.shape}"
        )
    value = concrete_or_none(labels)
    if value is not None and value.size and not np.all((value >= 0) & (value < c)):
        raise ValueError(
            f"labels must be class indices in [0, {c}), got values in [{value.min()}, {value.max()}]"
        )
    classes = jnp.arange(c)
    onehot = labels[..., None] == classes
    y = jnp.sum(jnp.where(onehot, x, 0.0), axis=-1)
    if kk == c:
        return jnp.zeros_like(y)
    if mode == "hard":
        yy = y[..., None]
        ahead = (x > yy) | ((x == yy) & (classes < labels[..., None]))
        return (jnp.sum(ahead, axis=-1) >= kk).astype(x.dtype)
    floor = jax.lax.stop_gradient(jnp.min(x, axis=-1, keepdims=True))
    others = jnp.where(onehot, floor, x)
    t = sort(others, axis=-1, descending=True, softness=softness, mode=mode, method=method)[..., kk - 1]
    return less_equal(y, t, softness=softness, mode=mode)


# --- trimmed mean ------------------------------------------------------------------


def _check_trim(trim: Any) -> float:
    value = concrete_or_none(trim)
    if value is None:
        raise TypeError(f"trim must be a concrete (static) number, got the traced value {trim!r}")
    if value.ndim != 0 or not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        raise TypeError(f"trim must be a scalar number, got {trim!r}")
    t = float(value)
    if not 0 <= t < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got trim={t}")
    return t


def trimmed_mean(
    x: ArrayLike,
    trim: float,
    *,
    axis: int = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "fast_soft_sort",
) -> jax.Array:
    r"""Soft trimmed mean: the mean of the soft-sorted values without ``int(trim * n)`` at each end.

    $$\bar x_{\mathrm{trim}} = \frac{1}{n - 2g} \sum_{j=g}^{n-g-1} x_{(j)},
    \qquad g = \lfloor \mathrm{trim}\cdot n \rfloor,$$

    with $x_{(j)}$ the soft-sorted values (:func:`softjax.sort`, ascending,
    0-based). The cut $g$ is computed exactly as ``scipy.stats.trim_mean``
    does (``int(trim * n)`` in Python floats, no fractional weights), so
    ``mode="hard"`` equals ``scipy.stats.trim_mean(x, trim, axis)``; the soft
    modes put the same weights on the soft-sorted values. The hard trimmed
    mean is already continuous (piecewise linear) in ``x``: the soft sort
    spreads the gradient of the values near the cut over their neighbours.
    With the default ``method="fast_soft_sort"`` (O(n log n), exact) the
    sort stays hard until ``softness`` is of order 1 or more for moderate
    ``n`` (see :func:`softjax.sort`); ``"neuralsort"`` softens at smaller
    ``softness``.

    Args:
        x: input array, at least one axis.
        trim: the fraction cut at each end, a concrete number in ``[0, 0.5)``.
        axis: the axis to reduce (default ``-1``).
        softness: ``s > 0`` (scalar) of the soft sort (scale-free, the rows
            are standardized first); ``s -> 0`` recovers the hard sort.
        mode: ``"hard"`` (``jnp.sort``), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"``.
        method: the soft-sort method (default ``"fast_soft_sort"``; any method
            of :func:`softjax.sort`).

    Returns:
        The trimmed mean: ``x``'s shape without ``axis``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([1.0, 2.0, 3.0, 4.0, 10.0])
        >>> sj.losses.trimmed_mean(x, 0.2, mode="hard")
        Array(3., dtype=float32)
        >>> sj.losses.trimmed_mean(x, 0.2, softness=1.0)
        Array(3.2927..., dtype=float32)
    """
    _check(mode, softness, method)
    t = _check_trim(trim)
    x = _last(ensure_float(x), axis, "x")
    n = x.shape[-1]
    g = int(t * n)
    xs = sort(x, axis=-1, softness=softness, mode=mode, method=method)
    return jnp.mean(xs[..., g : n - g], axis=-1)


# --- pinball -----------------------------------------------------------------------


def quantile_loss(
    pred: ArrayLike,
    target: ArrayLike,
    q: float | ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
) -> jax.Array:
    r"""Soft pinball (quantile) loss, elementwise.

    With the residual $u = \mathrm{target} - \mathrm{pred}$ the hard loss is
    $\max(q u, (q - 1) u)$, minimised in expectation by the $q$-quantile of
    the target. The soft loss is

    $$\ell_s(u) = q u + R(-u),$$

    $R$ the soft ReLU of ``mode`` (:func:`softjax.softrelu`, the
    antiderivative of the step; ``"smooth"``: $s\,\mathrm{softplus}(x/s)$).
    Since $R(x) - R(-x) = x$ this equals $(q - 1)u + R(u)$, and
    $\ell_s \ge \ell$ with equality outside the band $|u| < 5s$ in the
    piecewise modes. No sort is involved: only the kink at $u = 0$ is softened.

    Args:
        pred: predicted quantiles.
        target: observed values, broadcastable with ``pred``.
        q: quantile level(s) in ``[0, 1]``, broadcastable with ``pred``.
        softness: ``s > 0``, the width of the smoothed kink in the units of
            the residual (scalar or broadcastable); ``s -> 0`` recovers the
            pinball loss.
        mode: ``"hard"`` (exact pinball), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"``.

    Returns:
        The elementwise loss, of the broadcast shape of ``pred``, ``target``
            and ``q`` (average it for the training loss).

    Examples:
        >>> import softjax as sj
        >>> pred = jnp.array([0.0, 0.0, 0.0])
        >>> target = jnp.array([-1.0, 0.0, 2.0])
        >>> sj.losses.quantile_loss(pred, target, 0.75, mode="hard")
        Array([0.25, 0.  , 1.5 ], dtype=float32)
        >>> sj.losses.quantile_loss(pred, target, 0.75, mode="c0")
        Array([0.25 , 0.125, 1.5  ], dtype=float32)
    """
    validate_mode(mode, MODES)
    if mode != "hard":
        validate_softness(softness)
    qv = concrete_or_none(q)
    if qv is not None:
        if qv.dtype == object or not np.issubdtype(qv.dtype, np.number):
            raise TypeError(f"q must be a number or array of numbers, got {q!r}")
        if not np.all((qv >= 0) & (qv <= 1)):
            raise ValueError(f"q must be in [0, 1], got q={qv}")
    pred, target = ensure_float(pred), ensure_float(target)
    dtype = jnp.result_type(pred, target)
    q = jnp.asarray(q, dtype)
    try:
        jnp.broadcast_shapes(pred.shape, target.shape, q.shape)
    except ValueError:
        raise ValueError(
            f"pred, target and q must have broadcastable shapes, got {pred.shape}, {target.shape}, {q.shape}"
        ) from None
    u = target.astype(dtype) - pred.astype(dtype)
    if mode == "hard":
        return jnp.maximum(q * u, (q - 1) * u)
    return q * u + softrelu(-u, softness, mode)


# --- sorted-values distance --------------------------------------------------------


def sort_mse(
    x: ArrayLike,
    y: ArrayLike,
    *,
    axis: int = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "fast_soft_sort",
) -> jax.Array:
    r"""Mean squared difference of the soft-sorted ``x`` and the sorted ``y``: a soft squared 1-D $W_2$.

    $$\frac1n \sum_{j=1}^{n} \big(x_{(j)} - y_{(j)}\big)^2,$$

    with $x_{(j)}$ the soft-sorted ``x`` (:func:`softjax.sort`) and $y_{(j)}$
    the hard-sorted ``y``. In ``mode="hard"`` it is exactly the squared
    2-Wasserstein distance between the empirical distributions of the two rows
    (equal lengths, uniform weights). ``y`` is always sorted hard (the usual
    role of a fixed target sample); its gradient is that of the hard sort (a
    permutation), which is already exact for $W_2^2$. The hard $W_2^2$ is
    differentiable almost everywhere in ``x`` as well; the soft sort blends the
    order statistics of near-ties. With the default
    ``method="fast_soft_sort"`` (O(n log n), exact) the sort stays hard until
    ``softness`` is of order 1 or more for moderate ``n``.

    Args:
        x: samples, at least one axis.
        y: target samples, broadcastable with ``x`` and of the same length
            along ``axis``.
        axis: the sample axis (default ``-1``).
        softness: ``s > 0`` (scalar) of the soft sort of ``x`` (scale-free, the
            rows are standardized first); ``s -> 0`` recovers the hard sort.
        mode: ``"hard"`` (``jnp.sort``), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"``.
        method: the soft-sort method (default ``"fast_soft_sort"``; any method
            of :func:`softjax.sort`).

    Returns:
        The broadcast shape of ``x`` and ``y`` without ``axis``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([3.0, 1.0, 2.0])
        >>> y = jnp.array([0.0, 2.0, 4.0])
        >>> sj.losses.sort_mse(x, y, mode="hard")
        Array(0.666666..., dtype=float32)
        >>> sj.losses.sort_mse(x, y, softness=3.0)
        Array(1.3727..., dtype=float32)
    """
    _check(mode, softness, method)
    xs, ys = _pair(x, y, axis, ("x", "y"))
    xs = sort(xs, axis=-1, softness=softness, mode=mode, method=method)
    ys = jnp.sort(ys, axis=-1)
    return jnp.mean((xs - ys) ** 2, axis=-1)


__all__ = ["ndcg", "quantile_loss", "sort_mse", "spearman", "top_k_accuracy_loss", "trimmed_mean"]
