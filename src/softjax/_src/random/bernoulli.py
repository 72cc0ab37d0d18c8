r"""Relaxed ``bernoulli``, ``rademacher`` and ``binomial``.

All three threshold JAX's own uniform draw: the sample is "``u < p``" with
``u`` drawn exactly as ``jax.random.bernoulli`` draws it, and the soft modes
replace the comparison by the core soft ``less``. This is a
uniform-threshold relaxation, not the logistic-noise (binary concrete) one.
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src.comparison import less
from softjax._src.random._common import (
    canonicalize_shape,
    check_broadcast,
    default_float,
    float_dtype,
    require_shape,
    static_count,
    validate_noise,
    validate_sampler_mode,
)
from softjax._src.types import ElementwiseMode, SoftBool


def _uniform_draw(
    key: ArrayLike, shape: tuple[int, ...], dtype: Any, rng_mode: str
) -> tuple[jax.Array, jax.Array | None]:
    """``(u1, δ)`` as ``jax.random.bernoulli`` draws them (``δ = None`` for ``"low"``)."""
    if rng_mode == "low":
        return jax.random.uniform(key, shape, dtype), None
    if rng_mode == "high":
        u1, u2 = jax.random.uniform(key, (2, *shape), dtype)
        # resolution of uniform samples is 2 ** -n_mantissa (JAX's refinement)
        return u1, u2 * 2 ** -int(jnp.finfo(dtype).nmant)
    raise ValueError(f"got rng_mode={rng_mode!r}, expected 'high' or 'low'")


def bernoulli(
    key: ArrayLike,
    p: ArrayLike = 0.5,
    shape: int | tuple[int, ...] | None = None,
    rng_mode: str = "low",
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    noise: str = "uniform",
) -> SoftBool:
    r"""Relaxed Bernoulli sample: a soft ``u < p`` for JAX's uniform draw ``u``.

    * ``hard``: ``jax.random.bernoulli(key, p, shape, rng_mode)`` cast to ``p``'s dtype;
    * ``_hard``: $[u < p]$ with ``u`` drawn like JAX (``"high"``: JAX's exact
      test $\delta < p - u_1$), bit-identical to ``hard``;
    * ``smooth``: $\sigma((p - u - 10^{-10})/s)$;
    * ``c0``/``c1``/``c2``: $1 - S(t)$, $t = (u - p + 10^{-10})/(5s)$ clipped to
      $[-1, 1]$, with $S$ the linear / cubic / quintic smoothstep.

    Bias (by design of the uniform-threshold relaxation): the soft
    sample is not unbiased. Its mean in smooth mode is
    $s\,[\operatorname{softplus}(p/s) - \operatorname{softplus}((p-1)/s)]$,
    e.g. ≈ 0.080 for $p = 0.02$, $s = 0.1$, and $p = 0$ still gives positive
    values; the bias vanishes as $s \to 0$.

    Args:
        key: PRNG key.
        p: success probability (float array), broadcast-compatible with ``shape``.
        shape: output shape, default ``p.shape``.
        rng_mode: ``"low"`` or ``"high"`` resolution of the uniform draw.
        softness: $s > 0$.
        mode: ``"hard"``, ``"_hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        noise: only ``"uniform"``.

    Returns:
        SoftBool of shape ``shape`` (or ``p.shape``) and ``p``'s dtype, in [0, 1].

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> key = jax.random.key(0)
        >>> p = jnp.array([0.1, 0.5, 0.9])
        >>> sj.random.bernoulli(key, p, mode="_hard")
        Array([0., 0., 1.], dtype=float32)
        >>> sj.random.bernoulli(key, p)
        Array([2.0819902e-04, 8.2784295e-03, 9.9658817e-01], dtype=float32)
    """
    validate_noise(noise, "uniform")
    validate_sampler_mode(mode)
    shape = canonicalize_shape(shape)
    p = jnp.asarray(p)
    if shape is None:
        shape = p.shape
    else:
        check_broadcast("bernoulli", shape, p.shape)
    if mode == "hard":
        return jax.random.bernoulli(key, p=p, shape=shape, mode=rng_mode).astype(p.dtype)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {p.dtype}.")
    u1, delta = _uniform_draw(key, shape, p.dtype, rng_mode)
    if mode == "_hard":
        below = u1 < p if delta is None else delta < p - u1  # JAX's comparisons, bit for bit
        return below.astype(p.dtype)
    u = u1 if delta is None else u1 + delta
    soft_mode = cast(ElementwiseMode, mode)  # validated: one of the soft modes here
    return jnp.broadcast_to(less(u, p, softness=softness, mode=soft_mode), shape).astype(p.dtype)


def rademacher(
    key: ArrayLike,
    shape: int | tuple[int, ...] = (),
    dtype: Any = None,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    noise: str = "uniform",
) -> jax.Array:
    r"""Relaxed Rademacher sample $2b - 1$ with $b$ a relaxed ``bernoulli(p=0.5)``.

    * ``hard``: ``jax.random.rademacher(key, shape, dtype)`` (int by default);
    * ``_hard``: the same ±1 values as ``hard`` (the uniform is drawn in the
      default float, as JAX does, then the result is cast), float dtype;
    * soft modes: $2\,\mathrm{bernoulli}(p=\tfrac12) - 1 \in [-1, 1]$.

    Args:
        key: PRNG key.
        shape: output shape (``None`` is rejected).
        dtype: output dtype; in non-hard modes a non-float dtype means the default float.
        softness: $s > 0$.
        mode: ``"hard"``, ``"_hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        noise: only ``"uniform"``.

    Returns:
        Array of shape ``shape``.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> sj.random.rademacher(jax.random.key(0), (3,), mode="_hard")
        Array([-1., -1.,  1.], dtype=float32)
    """
    validate_noise(noise, "uniform")
    validate_sampler_mode(mode)
    shape = require_shape(shape, "rademacher")
    if mode == "hard":
        return jax.random.rademacher(key, shape=shape, dtype=dtype)
    out_dtype = default_float() if dtype is None else jax.dtypes.canonicalize_dtype(dtype)
    if not jnp.issubdtype(out_dtype, jnp.floating):
        out_dtype = default_float()
    # Like JAX, draw in the default float whatever ``dtype`` is.
    half = jnp.full(shape, 0.5, dtype=default_float())
    b = bernoulli(key, half, shape, "low", softness=softness, mode=mode, noise=noise)
    return (2 * b - 1).astype(out_dtype)


def binomial(
    key: ArrayLike,
    n: Any,
    p: ArrayLike,
    shape: int | tuple[int, ...] | None = None,
    dtype: Any = None,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    noise: str = "uniform",
) -> jax.Array:
    r"""Relaxed binomial sample: the sum of ``n`` relaxed Bernoulli trials.

    * ``hard``: ``jax.random.binomial(key, n, p, shape, dtype)`` (``n``, ``p`` broadcast);
    * ``_hard``: $\sum_{i<n} [u_i < p]$ with ``key`` split into ``n`` subkeys —
      Binomial(n, p) in distribution, not JAX's stream; O(n) draws;
    * soft modes: $\sum_i \mathrm{bernoulli}(k_i, p)$, values in $[0, n]$ (each trial
      carries the bias documented in :func:`bernoulli`).

    The soft modes need a static scalar count ``n`` (Python number or concrete 0-d
    array).

    Args:
        key: PRNG key.
        n: number of trials (nonnegative integer).
        p: success probability.
        shape: output shape, default ``p.shape`` (``n`` plays no role in soft modes).
        dtype: float output dtype, default ``result_type(p, float)``.
        softness: $s > 0$.
        mode: ``"hard"``, ``"_hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        noise: only ``"uniform"``.

    Returns:
        Float array of shape ``shape`` (or ``p.shape``).

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> sj.random.binomial(jax.random.key(0), 10, jnp.array([0.2, 0.7]), mode="_hard")
        Array([2., 7.], dtype=float32)
    """
    validate_noise(noise, "uniform")
    validate_sampler_mode(mode)
    shape = canonicalize_shape(shape)
    if mode == "hard":
        return jax.random.binomial(key, n=n, p=p, shape=shape, dtype=dtype)  # type: ignore[arg-type]  # ArrayLike key; jax annotates Array
    count = static_count(n, "binomial")
    out_dtype = float_dtype(dtype, p, "binomial")
    p = jnp.asarray(p)
    if shape is None:
        shape = p.shape
    else:
        check_broadcast("binomial", shape, p.shape)
    p = jnp.broadcast_to(p, shape).astype(out_dtype)
    if count == 0:
        return jnp.zeros(shape, out_dtype)

    def trial(subkey: jax.Array) -> jax.Array:
        return bernoulli(subkey, p, shape, softness=softness, mode=mode, noise=noise)

    trials = jax.vmap(trial)(jax.random.split(key, count))
    return jnp.sum(trials, axis=0).astype(out_dtype)
