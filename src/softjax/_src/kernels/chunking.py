"""Memory-bounded evaluation of row-generating functions.

Soft sorting builds an ``n x n`` matrix one row per sorted position; value
outputs (``sort``, ``rank``, ...) only need each row contracted with a vector.
These helpers generate rows in chunks of ``chunk_size`` inside a ``lax.scan``
whose body is rematerialised (``jax.checkpoint``) in the backward pass, so
forward and reverse memory stay ``O(chunk_size · n)`` instead of ``O(n²)``.

Rows beyond ``n`` (padding up to a multiple of ``chunk_size``) are copies of
the last real row and are masked out, so they never contribute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

CHUNK_SIZE = 128


def _pad_rows(xs: Any, n: int, total: int) -> Any:
    return jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], total - n, axis=0)], axis=0), xs)


def _num_rows(xs: Any) -> int:
    return jax.tree.leaves(xs)[0].shape[0]


def map_chunks(f: Callable[[Any], Any], xs: Any, chunk_size: int = CHUNK_SIZE) -> Any:
    """``f(xs)`` for a row-wise ``f``, evaluated ``chunk_size`` rows at a time.

    Args:
        f: maps a pytree of arrays with leading axis ``c`` to a pytree of
            arrays with leading axis ``c`` (row ``i`` of the output must depend
            only on row ``i`` of the input).
        xs: pytree of arrays sharing the leading axis ``n``.

    Returns:
        Same as ``f(xs)``.
    """
    n = _num_rows(xs)
    if n <= chunk_size:
        return f(xs)
    n_chunks = -(-n // chunk_size)
    padded = _pad_rows(xs, n, n_chunks * chunk_size)
    chunked = jax.tree.map(lambda a: a.reshape(n_chunks, chunk_size, *a.shape[1:]), padded)
    body = jax.checkpoint(f)
    _, out = jax.lax.scan(lambda carry, c: (carry, body(c)), None, chunked)
    return jax.tree.map(lambda a: a.reshape(n_chunks * chunk_size, *a.shape[2:])[:n], out)


def sum_chunks(f: Callable[[Any, jax.Array], jax.Array], xs: Any, chunk_size: int = CHUNK_SIZE) -> jax.Array:
    """``f(xs, mask)`` for an additive ``f``, accumulated ``chunk_size`` rows at a time.

    Args:
        f: ``f(rows, mask) -> partial`` where ``mask`` (shape ``(c,)``, in the
            rows' dtype) is 1 for real rows and 0 for padding; ``f`` must weight
            each row's contribution by it and return a fixed-shape partial sum.
        xs: pytree of arrays sharing the leading axis ``n``.

    Returns:
        The sum of the partial results over all chunks.
    """
    n = _num_rows(xs)
    dtype = jnp.result_type(*jax.tree.leaves(xs))
    if n <= chunk_size:
        return f(xs, jnp.ones((n,), dtype))
    n_chunks = -(-n // chunk_size)
    total = n_chunks * chunk_size
    padded = _pad_rows(xs, n, total)
    mask = (jnp.arange(total) < n).astype(dtype)
    chunked = jax.tree.map(lambda a: a.reshape(n_chunks, chunk_size, *a.shape[1:]), (padded, mask))
    body = jax.checkpoint(lambda c: f(*c))
    first = body(jax.tree.map(lambda a: a[0], chunked))
    rest = jax.tree.map(lambda a: a[1:], chunked)
    total_sum, _ = jax.lax.scan(lambda acc, c: (acc + body(c), None), first, rest)
    return total_sum


def rowwise(f: Callable[..., Any]) -> Callable[..., Any]:
    """Lift a function of 1-D rows (last axis) to arrays with any leading batch dims.

    All positional arguments must share the same leading batch shape; the
    batch is flattened, ``jax.vmap``-ed over, and restored on every output.
    """

    def lifted(*args: jax.Array) -> Any:
        batch = args[0].shape[:-1]
        flat = [a.reshape((-1, *a.shape[len(batch) :])) for a in args]
        out = jax.vmap(f)(*flat)
        return jax.tree.map(lambda o: o.reshape(batch + o.shape[1:]), out)

    return lifted
