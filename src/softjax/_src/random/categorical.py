r"""Relaxed ``jax.random.categorical``: Gumbel-max / Gumbel-top-k (Kool et al. 2019).

The draw replicates JAX's exactly — same key use, noise shape, dtype and
summation order — so the ``"_hard"`` decision (``argmax`` / ``lax.top_k`` of
the perturbed logits) is bit-identical to ``jax.random.categorical`` for
finite logits and every ``rng_mode``. The soft modes replace that decision by
the core soft ``argmax`` / soft arg-top-k of the same perturbed logits, as in
Gumbel-softmax / Concrete (Jang et al. 2017; Maddison et al. 2017).
"""

from __future__ import annotations

import math
from typing import Any, cast

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.extrema import argmax
from softjax._src.kernels import row_top_k
from softjax._src.random._common import (
    canonicalize_shape,
    check_broadcast,
    finite_logits,
    validate_index_method,
    validate_noise,
    validate_sampler_mode,
)
from softjax._src.sorting import argsort
from softjax._src.topk import top_k
from softjax._src.types import Method, SoftIndex
from softjax._src.validation import canonicalize_axis, ensure_float


class _Layout:
    """Shapes of one categorical draw (JAX's conventions)."""

    def __init__(self, logits: jax.Array, axis: Any, shape: Any):
        self.axis = canonicalize_axis(axis, logits.ndim)
        self.n = logits.shape[self.axis]
        self.batch = logits.shape[: self.axis] + logits.shape[self.axis + 1 :]
        if shape is None:
            shape = self.batch
        else:
            check_broadcast("categorical", shape, self.batch)
        self.shape = tuple(shape)
        self.prefix = self.shape[: len(self.shape) - len(self.batch)]
        self.batch_part = self.shape[len(self.prefix) :]
        # The draw shape of the batch part with the category axis re-inserted.
        full = list(self.batch_part)
        full.insert(self.axis, self.n)
        self.full_batch = tuple(full)
        self.k = math.prod(self.prefix)


def _scores_with_replacement(
    key: ArrayLike, logits: jax.Array, lay: _Layout, rng_mode: str | None
) -> jax.Array:
    """``gumbel(prefix + L) + logits`` exactly as JAX forms it (category axis at ``lay.axis``)."""
    g = jax.random.gumbel(key, lay.prefix + lay.full_batch, logits.dtype, mode=rng_mode)
    lead = tuple(range(len(lay.prefix)))
    return g + jnp.expand_dims(finite_logits(logits, lay.axis), lead)


def _scores_without_replacement(
    key: ArrayLike, logits: jax.Array, lay: _Layout, rng_mode: str | None
) -> jax.Array:
    """One Gumbel draw of the logits' own shape, category axis moved last."""
    if lay.k > lay.n:
        raise ValueError(
            f"Number of samples without replacement ({lay.k}) cannot exceed number of categories ({lay.n})."
        )
    # Broadcast batch dimensions first (JAX asserts otherwise), each broadcast
    # row drawn independently.
    logits = jnp.broadcast_to(logits, lay.full_batch)
    z = finite_logits(logits, lay.axis) + jax.random.gumbel(key, logits.shape, logits.dtype, mode=rng_mode)
    return jnp.moveaxis(z, lay.axis, -1)


def _rows_to_layout(rows: jax.Array, lay: _Layout) -> jax.Array:
    """``batch + (k, ...)`` → ``prefix + batch + ...`` (flat prefix position i = i-th largest)."""
    rows = jnp.moveaxis(rows, len(lay.batch_part), 0)
    return rows.reshape(lay.shape + rows.shape[1 + len(lay.batch_part) :])


def categorical_indices(
    key: ArrayLike,
    logits: jax.Array,
    axis: int,
    shape: tuple[int, ...] | None,
    replace: bool,
    rng_mode: str | None,
) -> jax.Array:
    """Integer draw of the ``"_hard"`` mode (``shape`` canonical, ``logits`` float)."""
    lay = _Layout(logits, axis, shape)
    if replace:
        z = _scores_with_replacement(key, logits, lay, rng_mode)
        return jnp.argmax(z, axis=lay.axis - logits.ndim)
    z = _scores_without_replacement(key, logits, lay, rng_mode)
    if lay.k == 0:  # an empty sample is an empty array, as in JAX
        return jnp.zeros(lay.shape, dtype=jnp.int32)
    return _rows_to_layout(row_top_k.top_k_indices(z, lay.k), lay)


def _hard_categorical(
    key: ArrayLike,
    logits: jax.Array,
    axis: int,
    shape: tuple[int, ...] | None,
    replace: bool,
    rng_mode: str | None,
) -> jax.Array:
    """``jax.random.categorical`` with batch dims broadcast first (JAX asserts otherwise)."""
    if not replace and shape is not None:
        lay = _Layout(logits, axis, shape)
        logits = jnp.broadcast_to(logits, lay.full_batch)
    return jax.random.categorical(key, logits, axis=axis, shape=shape, replace=replace, mode=rng_mode)


def categorical(
    key: ArrayLike,
    logits: ArrayLike,
    axis: int = -1,
    shape: int | tuple[int, ...] | None = None,
    replace: bool = True,
    rng_mode: str | None = None,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    method: Method = "softsort",
    noise: str = "gumbel",
    standardize: bool = False,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | jax.Array | None = None,
) -> SoftIndex:
    r"""Relaxed categorical sample (soft Gumbel-max / Gumbel-top-k trick).

    With replacement, $z = \text{logits} + g$ with Gumbel noise $g$ drawn as
    ``jax.random.categorical`` draws it, and the sample is a soft argmax of $z$:

    * ``hard``: one-hot of ``jax.random.categorical(key, logits, axis, shape, replace, rng_mode)``;
    * ``_hard``: one-hot of $\arg\max z$ (bit-identical to ``hard`` for finite logits);
    * ``smooth`` + ``softsort``: Gumbel-softmax, $\operatorname{softmax}(z/s)$;
    * ``c0``/``c1``/``c2``: sparse simplex projection of $z/s$ (p = 2, 3/2, 4/3);
    * other ``method``: the core soft ``argmax`` of $z$ with that method.

    Without replacement ($k = \prod$ of the sample prefix of ``shape``), one
    noise draw of the logits' shape and the soft arg-top-k of $z$: row $j$ is
    the soft index of the $j$-th largest score (softsort: projection of
    $-|a_j - z|/s$ with $a_j$ the exact $j$-th largest; sorting_network: the
    first $k$ rows of the descending soft argsort). Samples are random
    relaxed one-hots on the simplex, not ``softmax(logits)``.

    Non-finite logits: ``-inf`` (impossible class) is floored to a finite value
    far below the finite ones (zero gradient, never drawn), ``+inf`` is raised to
    a finite ceiling (always drawn, like JAX), NaN propagates. Deliberate
    deviation from JAX: ties at infinity (several ``+inf``, or a slice that is
    entirely ``-inf``) are broken uniformly at random; JAX takes the lowest index.
    With ``replace=False`` and ``shape`` broadcasting the batch dimensions, each
    broadcast row is sampled independently (JAX fails on this input).

    Args:
        key: PRNG key (raw ``uint32[2]`` or typed).
        logits: unnormalised log-probabilities, categories along ``axis``.
        axis: category axis of ``logits``.
        shape: sample shape ``S`` = sample prefix + batch, broadcast-compatible
            with ``logits.shape`` without ``axis``; default that batch shape.
        replace: sample with (Gumbel-max) or without (Gumbel-top-k) replacement.
        rng_mode: ``"high"``/``"low"`` Gumbel resolution, ``None`` = JAX's default.
        softness: temperature $s > 0$ of the relaxation.
        mode: ``"hard"``, ``"_hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        method: ``"softsort"``, ``"neuralsort"``, ``"ot"`` or ``"sorting_network"``.
        noise: only ``"gumbel"``.
        standardize: standardize the perturbed logits first (off: keeps their scale).
        ot_kwargs: options of the OT solver (``method="ot"``).
        return_log_probs: return log-weights instead of weights.
        log_prob_eps: clip weights to ``[eps, 1]`` and renormalise before the log.

    Returns:
        SoftIndex of shape ``S + (n,)`` (categories last, whatever ``axis``),
            in ``logits``' float dtype (``hard``: default float).

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> key = jax.random.key(0)
        >>> logits = jnp.log(jnp.array([0.2, 0.3, 0.5]))
        >>> sj.random.categorical(key, logits, mode="_hard")
        Array([0., 1., 0.], dtype=float32)
        >>> sj.random.categorical(key, logits, softness=0.5)
        Array([0.06720154, 0.93179876, 0.00099975], dtype=float32)
    """
    validate_noise(noise, "gumbel")
    aw.check_log_args(return_log_probs, log_prob_eps)
    validate_sampler_mode(mode)
    shape = canonicalize_shape(shape)
    logits = ensure_float(logits)
    lay = _Layout(logits, axis, shape)

    if mode in ("hard", "_hard"):
        if mode == "hard":
            idx = _hard_categorical(key, logits, axis, shape, replace, rng_mode)
            dtype = jnp.result_type(float)
        else:
            idx = categorical_indices(key, logits, axis, shape, replace, rng_mode)
            dtype = logits.dtype
        one_hot = jax.nn.one_hot(idx, lay.n, dtype=dtype)
        return aw.finish_probs(one_hot, return_log_probs, log_prob_eps)

    validate_index_method(method)
    relax: dict[str, Any] = dict(
        softness=softness,
        mode=mode,
        method=method,
        standardize=standardize,
        ot_kwargs=ot_kwargs,
        return_log_probs=return_log_probs,
        log_prob_eps=log_prob_eps,
    )
    if replace:
        z = _scores_with_replacement(key, logits, lay, rng_mode)
        return argmax(z, axis=lay.axis - logits.ndim, **relax)
    z = _scores_without_replacement(key, logits, lay, rng_mode)
    if lay.k == 0:  # an empty sample is an empty array, as in JAX
        return jnp.zeros((*lay.shape, lay.n), dtype=logits.dtype)
    if method == "sorting_network":  # its top_k has no index: first k rows of the argsort
        rows = argsort(z, axis=-1, descending=True, **relax)[..., : lay.k, :]
    else:
        rows = cast(jax.Array, top_k(z, lay.k, axis=-1, **relax)[1])  # an index method: not None
    return _rows_to_layout(rows, lay)
