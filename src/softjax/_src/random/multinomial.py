r"""Relaxed ``jax.random.multinomial``: a sum of relaxed one-hots."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src.random._common import (
    canonicalize_shape,
    check_broadcast,
    float_dtype,
    log_weights,
    static_count,
    validate_noise,
    validate_sampler_mode,
)
from softjax._src.random.categorical import categorical
from softjax._src.types import Method


def multinomial(
    key: ArrayLike,
    n: Any,
    p: ArrayLike,
    *,
    shape: int | tuple[int, ...] | None = None,
    dtype: Any = None,
    unroll: int | bool = 1,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    method: Method = "softsort",
    noise: str = "gumbel",
    standardize: bool = False,
    ot_kwargs: dict[str, Any] | None = None,
) -> jax.Array:
    r"""Relaxed multinomial counts: the sum of ``n`` relaxed categorical one-hots.

    With ``key`` split into ``n`` subkeys $k_i$ and logits $\log p$ (zero
    ``p`` entries are impossible outcomes with zero gradient),
    $\text{counts} = \sum_{i<n} \mathrm{categorical}(k_i, \log p)$ along the
    last (outcome) axis.

    * ``hard``: ``jax.random.multinomial(key, n, p, shape=shape, dtype=dtype,
      unroll=unroll)``, where ``shape`` is the full output shape including the
      outcome axis (as JAX's code behaves);
    * ``_hard``: the sum of exact Gumbel-max one-hots — Multinomial(n, p) in
      distribution, not JAX's stream; O(n) draws;
    * soft modes: the sum of soft one-hots; each count vector sums to ``n``.

    The soft modes need a static scalar count ``n``; ``unroll`` is ignored;
    ``p`` may be unnormalised.

    Args:
        key: PRNG key.
        n: number of trials (nonnegative integer).
        p: outcome weights, outcomes along the last axis.
        shape: output shape including the outcome axis, default ``p.shape``.
        dtype: float output dtype, default ``result_type(p, float)``.
        unroll: ``hard`` only.
        softness: temperature $s > 0$ of the relaxation.
        mode: ``"hard"``, ``"_hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        method: ``"softsort"`` (default), ``"neuralsort"``, ``"ot"`` or
            ``"sorting_network"``.
        noise: only ``"gumbel"``.
        standardize: standardize the perturbed logits first (off: keeps their scale).
        ot_kwargs: options of the OT solver (``method="ot"``).

    Returns:
        Float array of shape ``shape`` (or ``p.shape``).

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> p = jnp.array([0.2, 0.3, 0.5])
        >>> sj.random.multinomial(jax.random.key(0), 10, p, mode="_hard")
        Array([3., 2., 5.], dtype=float32)
    """
    validate_noise(noise, "gumbel")
    validate_sampler_mode(mode)
    shape = canonicalize_shape(shape)
    if mode == "hard":
        counts: jax.Array = jax.random.multinomial(
            key,  # type: ignore[arg-type]  # jax.random annotates key as Array; any ArrayLike key works
            n=n,
            p=p,
            shape=shape,
            dtype=dtype,
            unroll=unroll,
        )
        return counts
    count = static_count(n, "multinomial")
    out_dtype = float_dtype(dtype, p, "multinomial")
    p = jnp.asarray(p)
    if p.ndim == 0:
        raise ValueError("multinomial: p must have at least one dimension (the outcome axis)")
    if shape is None:
        shape = p.shape
    else:
        check_broadcast("multinomial", shape, p.shape)
    logits = log_weights(jnp.broadcast_to(p, shape).astype(out_dtype))
    if count == 0:
        return jnp.zeros(shape, out_dtype)

    def trial(subkey: jax.Array) -> jax.Array:
        return categorical(
            subkey,
            logits,
            axis=-1,
            shape=shape[:-1],
            softness=softness,
            mode=mode,
            method=method,
            noise=noise,
            standardize=standardize,
            ot_kwargs=ot_kwargs,
        )

    trials = jax.vmap(trial)(jax.random.split(key, count))
    return jnp.sum(trials, axis=0).astype(out_dtype)
