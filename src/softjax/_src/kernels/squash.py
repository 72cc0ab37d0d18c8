"""Standardize-and-squash along the last axis, and its inverse.

Soft sorting methods work on values in ``(0, 1)`` so that one softness means
the same thing whatever the scale of the data: each row is standardized
(population variance, ``1e-6`` added to the variance) and passed through the
logistic function. Gradients flow through the mean and the scale.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Squashed(NamedTuple):
    """Squashed values and the row statistics needed to invert them.

    Attributes:
        values: ``logistic((x - mean) / scale)``, shape ``(..., n)``, in ``(0, 1)``.
            Their *tangent* is ``unit`` times the true one (see
            :func:`standardize_and_squash`).
        mean: row means, shape ``(..., 1)``.
        scale: ``sqrt(var + 1e-6)``, shape ``(..., 1)``.
        unit: the factor by which the tangent of ``values`` exceeds the true
            one, shape ``(..., 1)``: 1, or the power of two at or below
            ``max |x|`` for rows beyond :func:`carried_unit`'s threshold.
    """

    values: jax.Array
    mean: jax.Array
    scale: jax.Array
    unit: jax.Array


@jax.custom_jvp
def rescale(v: jax.Array, value_factor: jax.Array, tangent_factor: jax.Array) -> jax.Array:
    """``v * value_factor`` whose tangent is ``dv * tangent_factor``.

    The factors are constants (no derivative flows into them). Used with
    powers of two, it moves a scale factor from one end of a chain of linear
    maps to the other without changing any value or the chain's product.
    """
    return v * value_factor


@rescale.defjvp
def _rescale_jvp(primals, tangents):
    v, value_factor, tangent_factor = primals
    return (v * value_factor).astype(v.dtype), (tangents[0] * tangent_factor).astype(v.dtype)


def _row_statistics(y: jax.Array, r: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and ``sqrt(var + 1e-6 / r^2)`` of ``y = x / r`` along the last axis."""
    mean_y = jnp.mean(y, axis=-1, keepdims=True)
    var_y = jnp.mean((y - mean_y) ** 2, axis=-1, keepdims=True)
    # r is clamped on each side of 1 so that neither 1e-6 / r^2 nor var_y r^2
    # overflows in the unselected form.
    r_hi, r_lo = jnp.maximum(r, 1.0), jnp.minimum(r, 1.0)
    arg_hi = var_y + 1e-6 / (r_hi * r_hi)
    # A constant row beyond ~1e19 (float32) has arg_hi == 0 (1e-6 / r^2
    # underflows): its standardized values are 0 whatever the scale, and scale
    # 1 keeps them and their gradients finite (double where: sqrt'(0) = inf).
    positive = arg_hi > 0
    scale_hi = jnp.where(positive, jnp.sqrt(jnp.where(positive, arg_hi, 1.0)), 1.0)
    return mean_y, jnp.where(r >= 1, scale_hi, jnp.sqrt(var_y * (r_lo * r_lo) + 1e-6) / r_lo)


def standardize_and_squash(x: jax.Array) -> Squashed:
    r"""$\hat x = \sigma\big((x - \mu)/\sqrt{v + 10^{-6}}\big)$ per row (last axis).

    A constant row maps to all ``0.5``.

    The statistics are taken of ``y = x / r`` with ``r`` the power of two at
    or below ``max |x|``: the sum of a row near the dtype's maximum, or the
    squares of values beyond ``sqrt(max)`` (1.8e19 in float32), would
    overflow, and a row of 1e-30s would lose its variance to underflow.
    Scaling by a power of two is exact, so ordinary rows get bit for bit the
    unscaled statistics.

    For rows beyond ``sqrt(max)`` the tangent of ``values`` is carried
    ``unit = r`` times the true one (:func:`carried_unit`); consumers multiply
    the tangents of whatever they derive from ``values`` by ``1 / unit`` at
    their end (:func:`rescale`). In reverse mode that keeps every cotangent
    between the output and ``x`` of the order of the result instead of
    ``|x| / softness``, which overflows for such rows. Other rows have
    ``unit = 1``. ``mean`` and ``scale`` carry their true tangents.
    """
    r = power_of_two_scale(x)
    unit = carried_unit(x, r)
    mean_y, scale_y = _row_statistics(x / r, r)
    y = rescale(x, 1.0 / r, unit / r)
    mean_v, scale_v = _row_statistics(y, r)
    return Squashed(jax.nn.sigmoid((y - mean_v) / scale_v), mean_y * r, scale_y * r, unit)


def unsquash(y: jax.Array, mean: jax.Array, scale: jax.Array, unit: jax.Array | None = None) -> jax.Array:
    r"""Inverse of :func:`standardize_and_squash`: $\operatorname{logit}(\hat y)\,\tilde\sigma + \mu$.

    ``y`` is clipped to ``[c, 1 - c]`` with ``c = max(1e-10, 10 eps)`` first so
    the logit stays finite. Values squashed in half precision are mapped
    back in float32 and clipped only to their own resolution
    (``[tiny, 1 - eps / 4]``), then rounded: ``10 eps`` of bfloat16 would cap
    every value at 2.5 standard deviations from the mean, and the float32
    clip of a bfloat16 value that rounded to 1 overflows. With ``unit``
    (``Squashed.unit``) the tangent of
    ``y`` is taken to be ``unit`` times the true one, and the product is
    formed as ``logit(y) * (scale / unit) + mean / unit``, scaled back by
    ``unit`` in value only: the cotangent reaching ``y`` is then of order one
    instead of ``ct * scale``, and no intermediate overflows.
    """
    out_dtype = jnp.result_type(y, mean, scale)
    data_dtype = jnp.result_type(mean, scale)  # the squashed values' dtype
    if jnp.dtype(data_dtype).itemsize < 4:
        # Squashed half-precision values keep their exponent range near 0 but
        # step by eps / 2 below 1: a value that rounded up to 1 lies within
        # eps / 4 of it, which is where it is clipped (y may have been
        # promoted on the way, its digits are the data's).
        info = jnp.finfo(data_dtype)
        low, high = max(1e-10, float(info.tiny)), 1 - float(info.eps) / 4
        y = jnp.clip(y.astype(jnp.float32), low, high)
        mean, scale = mean.astype(jnp.float32), scale.astype(jnp.float32)
        unit = None if unit is None else unit.astype(jnp.float32)
        return _logit_affine(y, mean, scale, unit).astype(out_dtype)
    c = max(1e-10, 10 * float(jnp.finfo(y.dtype).eps))
    return _logit_affine(jnp.clip(y, c, 1 - c), mean, scale, unit)


def _logit_affine(y: jax.Array, mean: jax.Array, scale: jax.Array, unit: jax.Array | None) -> jax.Array:
    if unit is None:
        return jnp.log(y / (1 - y)) * scale + mean
    # Everything is summed in units of ``unit`` (values only; tangents stay
    # true): logit * scale alone can pass the dtype's maximum when the mean
    # brings the result back in range.
    one = jnp.ones((), y.dtype)
    inv = 1.0 / unit
    scaled = jnp.log(y / (1 - y)) * rescale(scale, inv, one) + rescale(mean, inv, one)
    return rescale(scaled, unit, one)


def carried_unit(x: jax.Array, r: jax.Array) -> jax.Array:
    """``r`` for rows with ``max |x|`` beyond ``2**(maxexp / 2)`` (1.8e19 in float32), else 1.

    Only such rows need their tangents carried in units of ``r``: below it
    ``|x| / softness`` stays far from overflow for any softness down to
    ``1e-6``. Elsewhere the unit is 1, so a softness that is differentiated
    gets its exact derivative: its tangent enters the method unscaled, and a
    unit other than 1 would divide it by ``r`` at the end. (For rows beyond
    the threshold the derivative with respect to ``softness`` is divided by
    ``r``.)
    """
    m = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=-1, keepdims=True))
    huge = m > 2.0 ** (jnp.finfo(x.dtype).maxexp // 2)
    return jnp.where(huge, r, jnp.ones_like(r))


def power_of_two_scale(x: jax.Array) -> jax.Array:
    """``2**floor(log2(max |x|))`` per row (1 for all-zero or non-finite rows), no gradient.

    The exponent is kept two away from the dtype's extremes so that ``1 / r``
    is a normal number too (XLA may divide by multiplying with the
    reciprocal, and a subnormal one is flushed to zero).
    """
    m = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=-1, keepdims=True))
    usable = jnp.isfinite(m) & (m > 0)
    _, e = jnp.frexp(jnp.where(usable, m, 1.0))
    limit = -jnp.finfo(x.dtype).minexp - 2
    exponent = jnp.clip(e - 1, -limit, limit)
    return jnp.where(usable, jnp.ldexp(jnp.ones_like(m), exponent), 1.0)
