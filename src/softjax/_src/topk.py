"""Soft ``top_k``."""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.kernels import row_top_k
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.methods import registry
from softjax._src.types import Method, Mode, SoftIndex
from softjax._src.validation import canonicalize_axis

# From this k on, a method with an O(n log n) sort in the mode (its declaration's
# near_linear_sort_modes) reads top_k values off that sort: the k-row contraction
# costs O(kn), and below this k it is the cheaper of the two.
VALUES_FROM_SORT_MIN_K = 16


def _check_k(k: int, x: jax.Array, axis: int | None) -> int:
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be a static Python integer, got {k!r}") from None
    if k <= 0:
        raise ValueError(f"k must be positive, got k={k}")
    if axis is None:
        n = x.size
    else:
        if x.ndim == 0:
            raise ValueError(f"axis {axis} is out of bounds for array of dimension 0")
        n = x.shape[canonicalize_axis(axis, x.ndim)]
    if k > n:
        raise ValueError(f"k={k} exceeds dimension size {n} along axis={axis}")
    return k


def top_k(
    x: ArrayLike,
    k: int,
    axis: int | None = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> tuple[jax.Array, SoftIndex | None]:
    r"""Soft ``jax.lax.top_k`` along any axis: the ``k`` largest values and their soft indices.

    Row ``r`` of the SoftIndex is the distribution of the r-th largest element:
    ``neuralsort`` (default) $\Pi_\Delta(((n+1-2r)\hat x - A)/s)$,
    ``softsort`` $\Pi_\Delta(-|\hat x_{[r]} - \hat x|/s)$, ``ot`` (transport to
    ``k + 1`` anchors). Values are $\sum_j P_{rj} x_j$ on the raw ``x``
    (``gated_grad=False`` detaches ``P``); for ``k >= 16`` they come from the
    same rows through the near-linear :func:`sort` paths (``softsort`` in
    every mode; ``neuralsort`` in every mode for ``n >= 1024``, on certified
    windows of the sorted row), and
    under ``jit`` an unused index costs nothing. ``sorting_network``,
    ``fast_soft_sort``, ``smooth_sort`` return the first ``k`` entries of the
    descending soft :func:`sort` and ``None`` as the index.

    Args:
        x: input array.
        k: number of elements, ``1 <= k <= n`` (static).
        axis: axis to select along (default ``-1``); ``None`` flattens.
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (``jax.lax.top_k`` and one-hot indices), or the
            regulariser ``"smooth"`` (entropy), ``"c0"`` (L2, sparse),
            ``"c1"`` (p = 3/2), ``"c2"`` (p = 4/3).
        method: any of the six methods (default ``"neuralsort"``):
            ``"neuralsort"``, ``"softsort"``, ``"ot"``, ``"sorting_network"``,
            ``"fast_soft_sort"``, ``"smooth_sort"``.
        standardize: standardize-and-squash ``x`` along ``axis`` first, so
            ``softness`` is scale-free (values are read off the raw ``x``).
        ot_kwargs: solver options for ``method="ot"``.
        gated_grad: for ``softsort``/``neuralsort``/``ot``, let gradients flow
            through the soft weights as well as through ``x``.
        return_log_probs: return the SoftIndex as log-probabilities (exact
            ``log_softmax`` in smooth mode; ``-inf`` at exact zeros in sparse
            modes).
        log_prob_eps: if set, clip probabilities to ``[eps, 1]`` and
            renormalise before the log (bounded log-probabilities).

    Returns:
        ``(values, soft_index)``: ``values`` has ``x``'s shape with the axis
            length replaced by ``k`` (``(k,)`` for ``axis=None``); ``soft_index``
            has shape ``values.shape + (n,)`` (or is ``None``, see above). Values
            and their gradients do not depend on ``return_log_probs``.

    Examples:
        >>> import softjax as sj
        >>> values, index = sj.top_k(jnp.array([0.5, 2.0, 1.0]), k=2, mode="hard")
        >>> values
        Array([2., 1.], dtype=float32)
    """
    aw.check_log_args(return_log_probs, log_prob_eps)
    x = jnp.asarray(x)
    k = _check_k(k, x, axis)
    aw.check_mode_and_softness(mode, softness)
    if mode == "hard":
        w = aw.layout(x, axis)
        values, indices = map_rows(lambda r: row_top_k.top_k(r, k), w.x)
        p = aw.finish_probs(aw.one_hot(indices, w.n, aw.float_dtype(x)), return_log_probs, log_prob_eps)
        return w.along_axis(values), w.along_axis(p, trailing=1)
    gated = aw.static_bool("gated_grad", gated_grad)
    spec, module = registry.load(method, "values", mode)
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)
    prepared: dict[str, Any] = dict(standardize=standardize, method=spec, softness=softness, method_kwargs=kw)
    if spec.sorted_values:
        values, w = aw.per_row(
            x,
            axis,
            lambda w, kw: aw.sorted_values(w, module, kw, descending=True, gated=gated)[..., :k],
            **prepared,
        )
        return w.along_axis(values), None
    top_k_fn = module.top_k
    values_from_sort = mode in spec.near_linear_sort_modes and k >= VALUES_FROM_SORT_MIN_K

    def rows(w: aw.Working, kw: dict[str, Any]) -> tuple[jax.Array, jax.Array]:
        if return_log_probs and log_prob_eps is None and mode == "smooth":
            index = top_k_fn(w.xhat, k, log=True, **kw)
            p = jnp.exp(index)
        else:
            p = top_k_fn(w.xhat, k, log=False, **kw)
            index = aw.finish_probs(p, return_log_probs, log_prob_eps)
        if values_from_sort and w.n >= spec.near_linear_sort_min_n:
            # The same k rows (anchors = the k largest) from the method's O(n log n) sort
            # (neuralsort: on certified windows); under jit an unused index is never computed.
            values = aw.sorted_values(w, module, kw, descending=True, gated=gated, count=k)
        else:
            values = aw.contract(p, w.x, gated, w.unit)
        return values, w.true_tangent(index)

    (values, index), w = aw.per_row(x, axis, rows, **prepared)
    return w.along_axis(values), w.along_axis(index, trailing=1)
