"""What is benchmarked: every operator, its methods and modes, and its hard baseline.

A case is built by ``build(op, method, mode, n, batch, dtype)``, which returns the
function to time and its inputs. The function's first input is the one we
differentiate; the baseline (``method == "hard"``) is written directly with
``jax.numpy`` / ``jax.lax``, following the documented definition of each operator's
hard mode (index outputs as one-hot arrays), so that ratios compare softjax with
plain JAX rather than with softjax's own hard mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import softjax as sj
from softjax._src.methods import registry

AXISWISE = "axiswise"
ELEMENTWISE = "elementwise"
HARD = "hard"
SOFT_MODES = ("smooth", "c0", "c1", "c2")

# From the method declarations.
INDEX_METHODS = registry.methods("index")
ALL_METHODS = registry.methods("values")
# Display order of the declared methods; any other comes after them.
METHOD_ORDER = ("softsort", "neuralsort", "sorting_network", "fast_soft_sort", "smooth_sort", "ot")

# Allowed methods per axis-wise operator.
AXISWISE_METHODS: dict[str, tuple[str, ...]] = {
    "argmax": INDEX_METHODS,
    "max": ALL_METHODS,
    "argmin": INDEX_METHODS,
    "min": ALL_METHODS,
    "argsort": INDEX_METHODS,
    "sort": ALL_METHODS,
    "rank": ALL_METHODS,
    "top_k": ALL_METHODS,
    "top_k_values": ALL_METHODS,
    "argquantile": INDEX_METHODS,
    "quantile": ALL_METHODS,
    "argmedian": INDEX_METHODS,
    "median": ALL_METHODS,
    "argpercentile": INDEX_METHODS,
    "percentile": ALL_METHODS,
}
ELEMENTWISE_OPS = (
    "heaviside",
    "sign",
    "abs",
    "relu",
    "clip",
    "round",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "equal",
    "not_equal",
    "isclose",
)
COMPARISONS = ELEMENTWISE_OPS[6:]

# Fixed operator parameters (documented in benchmarks/README.md).
Q = 0.3  # quantile level for (arg)quantile
P = 30.0  # percentile for (arg)percentile
TOP_K = 16  # k for top_k (min(k, n))
TOP_K_VALUES_FRACTION = 16  # top_k_values: the values only, k = max(1, n // 16)
CLIP = (-1.0, 1.0)


def default_method(op: str) -> str:
    """The operator's default ``method``."""
    return "softsort" if op in ("argmax", "argmin", "max", "min") else "neuralsort"


def family(op: str) -> str:
    if op in AXISWISE_METHODS:
        return AXISWISE
    if op in ELEMENTWISE_OPS:
        return ELEMENTWISE
    raise ValueError(f"unknown operator {op!r}; known: {', '.join(all_ops())}")


def all_ops() -> tuple[str, ...]:
    return tuple(AXISWISE_METHODS) + ELEMENTWISE_OPS


def methods_for(op: str) -> tuple[str, ...]:
    """Soft methods of ``op`` in display order (``("-",)`` for elementwise operators)."""
    if family(op) == ELEMENTWISE:
        return ("-",)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return tuple(sorted(AXISWISE_METHODS[op], key=lambda m: order.get(m, len(order))))


@dataclass(frozen=True)
class Built:
    fn: Callable[..., Any]  # fn(*inputs) -> pytree of float arrays
    inputs: tuple[Any, ...]  # inputs[0] is differentiated


def _inputs(shape: tuple[int, ...], dtype: Any, count: int, seed: int = 0) -> tuple[jax.Array, ...]:
    # numpy, not jax.random: generating on the host costs no XLA compilation.
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.standard_normal(shape), dtype=dtype) for _ in range(count))


def _quantile_params(q: float, n: int, quantile_method: str) -> tuple[int, int, float]:
    """Order statistic ``k``, ``k+`` and interpolation weight ``a`` (``jnp.quantile``'s convention)."""
    h = q * (n - 1)
    k = math.floor(h)
    if quantile_method == "linear":
        a = h - k
    elif quantile_method == "midpoint":
        a = 0.0 if math.isclose(h, round(h)) else 0.5
    else:  # pragma: no cover - only linear/midpoint are benchmarked
        raise ValueError(quantile_method)
    return k, min(k + 1, n - 1), a


def _hard_argquantile(x: jax.Array, q: float, quantile_method: str) -> jax.Array:
    n = x.shape[-1]
    k, k_next, a = _quantile_params(q, n, quantile_method)
    idx = jnp.argsort(x, axis=-1)
    row = jax.nn.one_hot(idx[..., k], n, dtype=x.dtype)
    if a == 0.0:
        return row
    return (1 - a) * row + a * jax.nn.one_hot(idx[..., k_next], n, dtype=x.dtype)


def _hard_axiswise(op: str, k: int) -> Callable[[jax.Array], Any]:
    def one_hot(idx: jax.Array, x: jax.Array) -> jax.Array:
        return jax.nn.one_hot(idx, x.shape[-1], dtype=x.dtype)

    def rank(x: jax.Array) -> jax.Array:
        order = jnp.argsort(x, axis=-1, descending=True)
        return (jnp.argsort(order, axis=-1) + 1).astype(x.dtype)

    def top_k(x: jax.Array) -> Any:
        values, idx = jax.lax.top_k(x, k)
        return values, one_hot(idx, x)

    table: dict[str, Callable[[jax.Array], Any]] = {
        "argmax": lambda x: one_hot(jnp.argmax(x, axis=-1), x),
        "max": lambda x: jnp.max(x, axis=-1),
        "argmin": lambda x: one_hot(jnp.argmin(x, axis=-1), x),
        "min": lambda x: jnp.min(x, axis=-1),
        "argsort": lambda x: one_hot(jnp.argsort(x, axis=-1), x),
        "sort": lambda x: jnp.sort(x, axis=-1),
        "rank": rank,
        "top_k": top_k,
        "top_k_values": lambda x: jax.lax.top_k(x, _values_k(x))[0],
        "argquantile": lambda x: _hard_argquantile(x, Q, "linear"),
        "quantile": lambda x: jnp.quantile(x, Q, axis=-1),
        "argmedian": lambda x: _hard_argquantile(x, 0.5, "midpoint"),
        "median": lambda x: jnp.median(x, axis=-1),
        "argpercentile": lambda x: _hard_argquantile(x, P / 100, "linear"),
        "percentile": lambda x: jnp.percentile(x, P, axis=-1),
    }
    return table[op]


def _soft_axiswise(op: str, method: str, mode: str, k: int) -> Callable[[jax.Array], Any]:
    kw = dict(mode=mode, method=method)
    extra: dict[str, tuple[Any, ...]] = {
        "top_k": (k,),
        "argquantile": (Q,),
        "quantile": (Q,),
        "argpercentile": (P,),
        "percentile": (P,),
    }
    if op == "top_k_values":
        return lambda x: sj.top_k(x, _values_k(x), axis=-1, **kw)[0]
    fn = getattr(sj, op)
    args = extra.get(op, ())
    return lambda x: fn(x, *args, axis=-1, **kw)


def _values_k(x: jax.Array) -> int:
    return max(1, x.shape[-1] // TOP_K_VALUES_FRACTION)


def _hard_elementwise(op: str) -> Callable[..., Any]:
    if op in COMPARISONS:
        jnp_fn = getattr(jnp, op)
        return lambda x, y: jnp_fn(x, y).astype(x.dtype)
    table: dict[str, Callable[[jax.Array], Any]] = {
        "heaviside": lambda x: jnp.heaviside(x, jnp.asarray(0.5, x.dtype)),
        "sign": jnp.sign,
        "abs": jnp.abs,
        "relu": jax.nn.relu,
        "clip": lambda x: jnp.clip(x, *CLIP),
        "round": jnp.round,
    }
    return table[op]


def _soft_elementwise(op: str, mode: str) -> Callable[..., Any]:
    fn = getattr(sj, op)
    if op in COMPARISONS:
        return lambda x, y: fn(x, y, mode=mode)
    if op == "clip":
        return lambda x: fn(x, *CLIP, mode=mode)
    return lambda x: fn(x, mode=mode)


def build(op: str, method: str, mode: str, n: int, batch: int, dtype: Any) -> Built:
    """The function and inputs of one case; ``method == "hard"`` gives the baseline.

    Axis-wise inputs have shape ``(batch, n)`` (the operator works on the last
    axis); elementwise inputs have shape ``(n,)``.
    """
    if family(op) == AXISWISE:
        k = min(TOP_K, n)
        fn = _hard_axiswise(op, k) if method == HARD else _soft_axiswise(op, method, mode, k)
        return Built(fn, _inputs((batch, n), dtype, 1))
    fn = _hard_elementwise(op) if method == HARD else _soft_elementwise(op, mode)
    x, y = _inputs((n,), dtype, 2)
    if op == "round":
        x = x * 3  # spread over several integers
    if op == "isclose":
        y = x + 1e-3 * y  # some pairs close, some not
    return Built(fn, (x, y) if op in COMPARISONS else (x,))
