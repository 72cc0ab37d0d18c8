"""Soft ``argmax``, ``max``, ``argmin``, ``min``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.docstrings import documented_like
from softjax._src.methods import registry
from softjax._src.types import Method, Mode, SoftIndex
from softjax._src.validation import ensure_float


def argmax(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    r"""Soft ``jnp.argmax``: a distribution over the positions of the largest element.

    Args:
        x: input array.
        axis: axis to reduce; ``None`` works on the flattened array.
        keepdims: keep the reduced axis with length 1 (before the SoftIndex axis).
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (one-hot of ``jnp.argmax``), or the simplex
            regulariser ``"smooth"`` (entropy), ``"c0"`` (L2, sparse),
            ``"c1"`` (p = 3/2), ``"c2"`` (p = 4/3).
        method: ``"softsort"`` $\Pi_\Delta(\hat x/s)$; ``"neuralsort"``
            $\Pi_\Delta(((n-1)\hat x - A)/s)$; ``"ot"`` (transport to the
            anchors (0, 1)); ``"sorting_network"`` (first row of a soft bitonic
            network).
        standardize: standardize-and-squash ``x`` along ``axis`` first, so
            ``softness`` is scale-free.
        ot_kwargs: solver options for ``method="ot"``.
        return_log_probs: return log-probabilities (exact ``log_softmax`` in
            smooth mode; ``-inf`` at exact zeros in sparse modes).
        log_prob_eps: if set, clip probabilities to ``[eps, 1]`` and
            renormalise before the log (bounded log-probabilities).

    Returns:
        SoftIndex of shape ``jnp.argmax(x, axis, keepdims).shape + (n,)``.

    Examples:
        >>> import softjax as sj
        >>> sj.argmax(jnp.array([0.0, 1.0, 3.0]), mode="hard")
        Array([0., 0., 1.], dtype=float32)
    """
    aw.check_log_args(return_log_probs, log_prob_eps)
    aw.check_mode_and_softness(mode, softness)
    if mode == "hard":
        x, n = aw.reduce_axis_length(x, axis)
        p = aw.one_hot(jnp.argmax(x, axis=axis, keepdims=keepdims), n, aw.float_dtype(x))
        return aw.finish_probs(p, return_log_probs, log_prob_eps)
    spec, module = registry.load(method, "index", mode)
    argmax_fn = module.argmax
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)

    def rows(w: aw.Working, kw: dict[str, Any]) -> jax.Array:
        p = aw.index_output(lambda log: argmax_fn(w.xhat, log=log, **kw), return_log_probs, log_prob_eps)
        return w.true_tangent(p)

    p, w = aw.per_row(
        x, axis, rows, standardize=standardize, method=spec, softness=softness, method_kwargs=kw
    )
    return w.reduced(p, keepdims)


def max(  # noqa: A001
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    r"""Soft ``jnp.max``.

    For ``softsort``, ``neuralsort`` and ``ot`` the value is $\sum_j P_j x_j$
    with ``P = argmax(x, ...)`` applied to the **raw** ``x`` (so the result
    lies in ``[min x, max x]``); with ``gated_grad=False`` the weights are
    detached and $\partial/\partial x_j = P_j$. For ``sorting_network``,
    ``fast_soft_sort`` and ``smooth_sort`` it is the first entry of the
    descending soft ``sort`` (``gated_grad`` and ``ot_kwargs`` unused).

    Args:
        x: input array.
        axis: axis to reduce; ``None`` works on the flattened array.
        keepdims: keep the reduced axis with length 1.
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (``jnp.max``), or the regulariser ``"smooth"``
            (entropy), ``"c0"`` (L2, sparse), ``"c1"`` (p = 3/2), ``"c2"``
            (p = 4/3).
        method: any of ``"softsort"`` (default), ``"neuralsort"``, ``"ot"``,
            ``"sorting_network"``, ``"fast_soft_sort"``, ``"smooth_sort"``.
        standardize: standardize-and-squash ``x`` along ``axis`` before
            computing the weights, so ``softness`` is scale-free (the value is
            still read off the raw ``x``).
        ot_kwargs: solver options for ``method="ot"``.
        gated_grad: let gradients flow through the weights as well as ``x``.

    Returns:
        Array of shape ``jnp.max(x, axis, keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> sj.max(jnp.array([0.0, 1.0, 3.0]), mode="hard")
        Array(3., dtype=float32)
    """
    aw.check_mode_and_softness(mode, softness)
    if mode == "hard":
        return jnp.max(jnp.asarray(x), axis=axis, keepdims=keepdims)
    spec, module = registry.load(method, "values", mode)
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)
    gated = aw.static_bool("gated_grad", gated_grad)

    def rows(w: aw.Working, kw: dict[str, Any]) -> jax.Array:
        if spec.sorted_values:
            return aw.sorted_values(w, module, kw, descending=True, gated=gated)[..., 0]
        p = module.argmax(w.xhat, log=False, **kw)
        return aw.contract(p[..., None, :], w.x, gated, w.unit)[..., 0]

    value, w = aw.per_row(
        x, axis, rows, standardize=standardize, method=spec, softness=softness, method_kwargs=kw
    )
    return w.reduced(value, keepdims)


@documented_like(argmax)
def argmin(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    """Soft ``jnp.argmin``: :func:`argmax` of ``-x``.

    Args:
        mode: ``"hard"`` (one-hot of ``jnp.argmin``), or the simplex
            regulariser ``"smooth"`` (entropy), ``"c0"`` (L2, sparse),
            ``"c1"`` (p = 3/2), ``"c2"`` (p = 4/3).
        method: ``"softsort"`` (default), ``"neuralsort"``, ``"ot"`` or
            ``"sorting_network"``, applied to ``-x`` as in :func:`argmax`.

    Returns:
        SoftIndex of shape ``jnp.argmin(x, axis, keepdims).shape + (n,)``.

    Examples:
        >>> import softjax as sj
        >>> sj.argmin(jnp.array([0.0, 1.0, 3.0]), mode="hard")
        Array([1., 0., 0.], dtype=float32)
    """
    if mode == "hard":
        aw.check_log_args(return_log_probs, log_prob_eps)
        x, n = aw.reduce_axis_length(x, axis)
        p = aw.one_hot(jnp.argmin(x, axis=axis, keepdims=keepdims), n, aw.float_dtype(x))
        return aw.finish_probs(p, return_log_probs, log_prob_eps)
    return argmax(
        -ensure_float(x),
        axis,
        keepdims,
        softness,
        mode,
        method,
        standardize,
        ot_kwargs,
        return_log_probs,
        log_prob_eps,
    )


@documented_like(max)
def min(  # noqa: A001
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    """Soft ``jnp.min``: ``-max(-x)``, see :func:`max`.

    Args:
        mode: ``"hard"`` (``jnp.min``), or the regulariser ``"smooth"``
            (entropy), ``"c0"`` (L2, sparse), ``"c1"`` (p = 3/2), ``"c2"``
            (p = 4/3).

    Returns:
        Array of shape ``jnp.min(x, axis, keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> sj.min(jnp.array([0.0, 1.0, 3.0]), mode="hard")
        Array(0., dtype=float32)
    """
    if mode == "hard":
        aw.check_mode_and_softness(mode, softness)
        return jnp.min(jnp.asarray(x), axis=axis, keepdims=keepdims)
    return -max(-ensure_float(x), axis, keepdims, softness, mode, method, standardize, ot_kwargs, gated_grad)
