"""Standardize-and-squash along the last axis, and its inverse (spec part 2 §1).

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
        mean: row means, shape ``(..., 1)``.
        scale: ``sqrt(var + 1e-6)``, shape ``(..., 1)``.
    """

    values: jax.Array
    mean: jax.Array
    scale: jax.Array


def standardize_and_squash(x: jax.Array) -> Squashed:
    r"""$\hat x = \sigma\big((x - \mu)/\sqrt{v + 10^{-6}}\big)$ per row (last axis).

    A constant row maps to all ``0.5``.
    """
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    scale = jnp.sqrt(var + 1e-6)
    return Squashed(jax.nn.sigmoid((x - mean) / scale), mean, scale)


def unsquash(y: jax.Array, mean: jax.Array, scale: jax.Array) -> jax.Array:
    r"""Inverse of :func:`standardize_and_squash`: $\operatorname{logit}(\hat y)\,\tilde\sigma + \mu$.

    ``y`` is clipped to ``[c, 1 - c]`` with ``c = max(1e-10, 10 eps)`` first so
    the logit stays finite.
    """
    c = max(1e-10, 10 * float(jnp.finfo(y.dtype).eps))
    y = jnp.clip(y, c, 1 - c)
    return jnp.log(y / (1 - y)) * scale + mean
