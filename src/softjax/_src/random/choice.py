r"""Relaxed ``choice`` and ``permutation``.

Both draw a (soft) index with Gumbel noise and read values through it. The
``"_hard"`` mode gathers by integer index (exact for any dtype, ``inf`` and
large integers included); the soft modes contract the values with
the soft index, treating non-finite values so that a zero weight never
multiplies an infinity.
"""

from __future__ import annotations

import math
from typing import Any, cast

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src.kernels.row_parallel import align_leading, whole_axis
from softjax._src.random._common import (
    default_float,
    log_weights,
    require_shape,
    validate_index_method,
    validate_noise,
    validate_sampler_mode,
)
from softjax._src.random.categorical import categorical, categorical_indices
from softjax._src.sorting import argsort
from softjax._src.types import Method, Mode
from softjax._src.validation import canonicalize_axis, ensure_float


def contract(values: jax.Array, weights: jax.Array, axis: int) -> jax.Array:
    r"""Inf-safe contraction along ``axis``.

    $o[\dots, j, \dots] = \sum_i w[\dots, j, \dots, i]\, v[\dots, i, \dots]$.
    ``weights`` has the picks at ``axis`` and the ``n`` source positions last;
    its other dimensions broadcast with ``values``' (as ``take_along_axis``).
    Non-finite values count only where their weight is positive: a pick with
    positive weight on ``+inf`` is ``+inf`` (NaN if also on ``-inf`` or NaN),
    while exact zero weights ignore them (no 0·∞ = NaN). Gradients flow
    through the finite part.
    """
    v = jnp.moveaxis(values, axis, -1)[..., None]  # (..., n, 1)
    w = jnp.moveaxis(weights, axis, -2).astype(values.dtype)  # (..., k, n)
    finite = jnp.isfinite(v)
    columns = [jnp.where(finite, v, 0), v == jnp.inf, v == -jnp.inf, jnp.isnan(v)]
    v = jnp.concatenate([c.astype(v.dtype) for c in columns], axis=-1)
    if w.ndim == v.ndim:  # shared-key weights meet batch-sharded values
        w, v = align_leading(w, v, w.ndim - 2)
    out = jnp.matmul(w, v)  # one product for the value and the three masks
    value, pos, neg, nan = (out[..., i] for i in range(4))
    pos, neg = pos > 0, neg > 0
    bad = (nan > 0) | (pos & neg) | jnp.isnan(value)
    value = jnp.where(pos, jnp.inf, jnp.where(neg, -jnp.inf, value))
    value = jnp.where(bad, jnp.nan, value)
    return jnp.moveaxis(value, -1, axis)


def _float_dtype(values: jax.Array, fallback: Any) -> Any:
    return values.dtype if jnp.issubdtype(values.dtype, jnp.inexact) else fallback


def choice(
    key: ArrayLike,
    a: ArrayLike,
    shape: int | tuple[int, ...] = (),
    replace: bool = True,
    p: ArrayLike | None = None,
    axis: int = 0,
    rng_mode: str | None = None,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    method: Method = "softsort",
    noise: str = "gumbel",
    standardize: bool = False,
    ot_kwargs: dict[str, Any] | None = None,
) -> jax.Array:
    r"""Relaxed ``jax.random.choice``: values read through a relaxed categorical index.

    With logits $\ell = \log p$ (0 if ``p`` is None; unnormalised ``p`` allowed,
    $p_i = 0$ gives $-\infty$ with zero gradient), $P$ =
    :func:`categorical` ``(key, ℓ, shape=shape, replace=replace, …)`` of shape
    ``shape + (N,)`` and the output is $\sum_i P_{\cdot i}\, a_i$ along ``axis``.

    * ``hard``: ``jax.random.choice(key, a, shape, replace, p, axis, rng_mode)``;
    * ``_hard``: ``a`` gathered at the exact Gumbel-max / top-k indices, in
      ``a``'s dtype. Bit-identical to ``hard`` only for ``p`` given with
      ``replace=False`` (JAX's Gumbel top-k); otherwise the same distribution
      (JAX uses ``randint``, a permutation or an inverse CDF);
    * soft modes: the contraction above, float dtype. A soft choice is a
      random relaxed pick, not the expectation $\sum_i p_i a_i$.

    Zero draws return zeros of ``a.shape[:axis] + shape + a.shape[axis+1:]`` in
    every mode (deliberate: ``jax.random.choice`` returns zeros of
    ``shape`` there, inconsistent with its non-empty layout; ``hard`` reshapes).

    Args:
        key: PRNG key.
        a: population array, or an int ``N`` for ``arange(N)``.
        shape: sample shape (tuple of ints or int; ``None`` is rejected).
        replace: sample with or without replacement.
        p: weights of the ``N`` entries along ``axis`` (shape ``(N,)``).
        axis: axis of ``a`` to sample along.
        rng_mode: Gumbel resolution (``"high"``/``"low"``/``None``).
        softness: temperature $s > 0$ of the relaxation.
        mode: ``"hard"``, ``"_hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        method: ``"softsort"`` (default), ``"neuralsort"``, ``"ot"`` or
            ``"sorting_network"``.
        noise: only ``"gumbel"``.
        standardize: standardize the perturbed scores first (off: keeps their scale).
        ot_kwargs: options of the OT solver (``method="ot"``).

    Returns:
        Array of shape ``a.shape[:axis] + shape + a.shape[axis+1:]``.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> key = jax.random.key(0)
        >>> a = jnp.array([1.0, 2.0, 3.0, 4.0])
        >>> sj.random.choice(key, a, (2,), mode="_hard")
        Array([2., 4.], dtype=float32)
        >>> sj.random.choice(key, a, (2,), softness=1.0)
        Array([1.7753129, 2.7578857], dtype=float32)
    """
    validate_noise(noise, "gumbel")
    validate_sampler_mode(mode)
    shape = require_shape(shape, "choice")
    arr = jnp.asarray(a)
    axis = 0 if arr.ndim == 0 else canonicalize_axis(axis, arr.ndim)
    draws = math.prod(shape)
    if mode == "hard":
        out = jax.random.choice(key, a, shape=shape, replace=replace, p=p, axis=axis, mode=rng_mode)
        if draws == 0 and arr.ndim > 0:  # keep the non-empty layout
            out = out.reshape(arr.shape[:axis] + shape + arr.shape[axis + 1 :])
        return out

    # A 0-d ``a`` is the population size: a static Python integer, never traced.
    values = jnp.arange(int(a), dtype=arr.dtype) if arr.ndim == 0 else arr  # type: ignore[arg-type]
    n = values.shape[axis]
    layout = values.shape[:axis] + shape + values.shape[axis + 1 :]
    if draws == 0:
        return jnp.zeros(layout, dtype=arr.dtype)
    if n <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and draws > n:
        raise ValueError(
            f"Cannot take a larger sample (size {draws}) than population (size {n}) when 'replace=False'"
        )
    if p is None:
        logits = jnp.zeros((n,), dtype=default_float())
    else:
        p = ensure_float(p)
        if p.shape != (n,):
            raise ValueError(
                "p must be None or a 1D vector with the same size as a.shape[axis]. "
                f"p has shape {p.shape} and a.shape[axis] is {n}."
            )
        logits = log_weights(p)

    if mode == "_hard":
        idx = categorical_indices(key, logits, -1, shape, replace, rng_mode)
        return jnp.take(whole_axis(values, axis), idx, axis=axis)  # integer gather: exact for any dtype

    validate_index_method(method)
    index = categorical(
        key,
        logits,
        shape=shape,
        replace=replace,
        rng_mode=rng_mode,
        softness=softness,
        mode=mode,
        method=method,
        noise=noise,
        standardize=standardize,
        ot_kwargs=ot_kwargs,
    )
    dtype = _float_dtype(values, index.dtype)
    # (draws, n) placed at ``axis``, broadcasting over the other axes of ``a``.
    picks = (1,) * axis + (draws,) + (1,) * (values.ndim - axis - 1) + (n,)
    out = contract(values.astype(dtype), index.reshape(picks), axis)
    return out.reshape(layout)


def permutation(
    key: ArrayLike,
    x: ArrayLike,
    axis: int = 0,
    independent: bool = False,
    *,
    out_sharding: Any = None,
    rng_mode: str | None = None,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    method: Method = "neuralsort",
    noise: str = "gumbel",
    standardize: bool = False,
    ot_kwargs: dict[str, Any] | None = None,
) -> jax.Array:
    r"""Relaxed ``jax.random.permutation``: values reordered by a soft Gumbel argsort.

    Scores $g$ are Gumbel noise (one per element if ``independent`` or ``x`` is
    1-D, else one shared vector of length $N$); $P$ = descending soft
    ``argsort(g)`` (a soft permutation matrix) and the output is
    $\sum_i P_{\cdot i}\, x_i$ along ``axis``.

    * ``hard``: ``jax.random.permutation(key, x, axis, independent, out_sharding=…)``;
    * ``_hard``: ``x`` gathered in the exact descending order of $g$ (``x``'s
      dtype): a uniform random permutation, not JAX's stream (JAX sorts random
      32-bit keys) — equal in distribution only;
    * soft modes: the contraction, float dtype. With ``softsort``/``neuralsort``
      $P$ is only row-stochastic, so e.g. ``sum(x)`` is not preserved.

    Args:
        key: PRNG key.
        x: array, or an integer ``N`` for ``arange(N)``.
        axis: axis to permute.
        independent: permute each slice along ``axis`` independently.
        out_sharding: ``hard`` only (``NotImplementedError`` otherwise).
        rng_mode: Gumbel resolution (``"high"``/``"low"``/``None``).
        softness: temperature $s > 0$ of the relaxation.
        mode: ``"hard"``, ``"_hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        method: ``"neuralsort"`` (default), ``"softsort"``, ``"ot"``, ``"sorting_network"``.
        noise: only ``"gumbel"``.
        standardize: standardize the Gumbel scores first (off: keeps their scale).
        ot_kwargs: options of the OT solver (``method="ot"``).

    Returns:
        Array of ``x``'s shape (``(N,)`` for an integer ``x``).

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> key = jax.random.key(0)
        >>> sj.random.permutation(key, jnp.array([1.0, 2.0, 3.0]), mode="_hard")
        Array([2., 1., 3.], dtype=float32)
    """
    validate_noise(noise, "gumbel")
    validate_sampler_mode(mode)
    if mode == "hard":
        return jax.random.permutation(key, x, axis=axis, independent=independent, out_sharding=out_sharding)
    if out_sharding is not None:
        raise NotImplementedError("out_sharding is only supported with mode='hard'")
    arr = jnp.asarray(x)
    if arr.ndim == 0:
        axis = canonicalize_axis(axis, 1)
        if not jnp.issubdtype(arr.dtype, jnp.integer):
            raise TypeError("x must be an integer or at least 1-dimensional")
        # A 0-d ``x`` is the length: a static Python integer, never traced.
        values = jnp.arange(int(x), dtype=arr.dtype)  # type: ignore[arg-type]
    else:
        axis = canonicalize_axis(axis, arr.ndim)
        values = arr
    n = values.shape[axis]
    if values.size == 0:
        return values
    dtype = _float_dtype(values, default_float())
    shared = not independent and values.ndim > 1
    scores = jax.random.gumbel(key, (n,) if shared else values.shape, dtype, mode=rng_mode)
    score_axis = 0 if shared else axis

    if mode == "_hard":
        order = jnp.argsort(scores, axis=score_axis, descending=True)
        values = whole_axis(values, axis)
        if shared:
            return jnp.take(values, order, axis=axis)
        return jnp.take_along_axis(values, order, axis=axis)  # integer gather: exact

    validate_index_method(method)
    index = argsort(
        scores,
        axis=score_axis,
        descending=True,
        softness=softness,
        mode=cast(Mode, mode),  # validated: one of the soft modes here
        method=method,
        standardize=standardize,
        ot_kwargs=ot_kwargs,
    )
    if shared:  # (n, n) → broadcastable against ``values`` with the picks at ``axis``
        index = index.reshape((1,) * axis + (n,) + (1,) * (values.ndim - axis - 1) + (n,))
    return contract(values.astype(dtype), index, axis)
