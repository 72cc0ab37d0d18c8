"""Ranking objectives of ``softjax.losses``: Spearman correlation, NDCG and the top-k accuracy loss.

The conventions they share are stated in :mod:`softjax.losses`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src.comparison import less_equal
from softjax._src.loss_inputs import _check, _last, _pair
from softjax._src.sorting import rank, sort
from softjax._src.types import Method, Mode
from softjax._src.validation import (
    concrete_or_none,
    ensure_float,
    validate_positive_int,
)


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

__all__ = ["ndcg", "spearman", "top_k_accuracy_loss"]
