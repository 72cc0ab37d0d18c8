"""Soft ``top_k``."""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.kernels import row_top_k
from softjax._src.methods import registry
from softjax._src.types import Method, Mode, SoftIndex
from softjax._src.validation import canonicalize_axis


def _check_k(k, x: jax.Array, axis) -> int:
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
    ot_kwargs: dict | None = None,
    gated_grad: bool = True,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> tuple[jax.Array, SoftIndex | None]:
    r"""Soft ``jax.lax.top_k`` along any axis: the ``k`` largest values and their soft indices.

    Row ``r`` of the SoftIndex is the distribution of the r-th largest element:
    ``neuralsort`` (default) $\Pi_\Delta(((n+1-2r)\hat x - A)/s)$,
    ``softsort`` $\Pi_\Delta(-|\hat x_{[r]} - \hat x|/s)$, ``ot`` (transport to
    ``k + 1`` anchors). Values are $\sum_j P_{rj} x_j$ on the raw ``x``
    (``gated_grad=False`` detaches ``P``). ``sorting_network``,
    ``fast_soft_sort``, ``smooth_sort`` return the first ``k`` entries of the
    descending soft :func:`sort` and ``None`` as the index.

    Arguments ``softness``, ``mode``, ``standardize``, ``ot_kwargs``,
    ``return_log_probs`` and ``log_prob_eps``: as for :func:`softjax.argmax`.

    Args:
        x: input array.
        k: number of elements, ``1 <= k <= n`` (static).
        axis: axis to select along (default ``-1``); ``None`` flattens.
        gated_grad: as for :func:`softjax.max`.

    Returns:
        ``(values, soft_index)``: ``values`` has ``x``'s shape with the axis
        length replaced by ``k`` (``(k,)`` for ``axis=None``); ``soft_index``
        has shape ``values.shape + (n,)`` (or is ``None``, see above). Values
        and their gradients do not depend on ``return_log_probs``.

    Example:
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
        values, indices = row_top_k.top_k(w.x, k)
        p = aw.finish_probs(aw.one_hot(indices, w.n, aw.float_dtype(x)), return_log_probs, log_prob_eps)
        return w.along_axis(values), w.along_axis(p, trailing=1)
    gated = aw.static_bool("gated_grad", gated_grad)
    module = registry.load(method, registry.ALL_METHODS)
    w = aw.prepare(x, axis, standardize, module, softness)
    kw = aw.method_kwargs(softness, mode, ot_kwargs)
    if method in registry.SORTED_VALUE_METHODS:
        values = aw.sorted_values(w, module, method, kw, descending=True, gated=gated)[..., :k]
        return w.along_axis(values), None
    top_k_fn = registry.function(module, "top_k", method)
    if return_log_probs and log_prob_eps is None and mode == "smooth":
        index = top_k_fn(w.xhat, k, log=True, **kw)
        p = jnp.exp(index)
    else:
        p = top_k_fn(w.xhat, k, log=False, **kw)
        index = aw.finish_probs(p, return_log_probs, log_prob_eps)
    values = aw.contract(p, w.x, gated, w.unit)
    return w.along_axis(values), w.along_axis(w.true_tangent(index), trailing=1)
