"""Fuzzy logic on SoftBools.

Probabilistic semantics: entries are probabilities of independent events, so
``and`` multiplies, ``or`` is ``1 - (1-x)(1-y)``. With
``use_geometric_mean=True`` products are replaced by geometric means
(``exp(mean(log(max(x, eps))))``), which keeps long conjunctions from
vanishing. None of these take ``softness`` or ``mode``.

Fixes over prior implementations: binary operators broadcast their operands,
and every input goes through ``ensure_float`` so boolean inputs give float
results.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softjax._src.docstrings import documented_like
from softjax._src.elementwise import check_broadcast
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.types import SoftBool
from softjax._src.validation import canonicalize_axis, ensure_float

_EPS = 1e-10


def _canonical_axes(axis: int | tuple[int, ...] | None, ndim: int) -> int | tuple[int, ...] | None:
    if axis is None:
        return None
    if isinstance(axis, tuple):
        axes = tuple(canonicalize_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"axis contains repeated entries: {axis!r}")
        return axes
    return canonicalize_axis(axis, ndim)


def _geometric_and(x: jax.Array, y: jax.Array) -> jax.Array:
    # Two-element case of all(stack([x, y]), use_geometric_mean=True), same bits.
    return jnp.exp((jnp.log(jnp.maximum(x, _EPS)) + jnp.log(jnp.maximum(y, _EPS))) / 2)


def logical_not(x: SoftBool) -> SoftBool:
    r"""Soft ``not``: $1 - x$.

    Args:
        x: SoftBool (bools/ints are promoted to the default float).

    Returns:
        SoftBool of ``x``'s shape.

    Examples:
        >>> import softjax as sj
        >>> sj.logical_not(jnp.array([0.0, 0.25, 1.0]))
        Array([1.  , 0.75, 0.  ], dtype=float32)
    """
    return 1 - ensure_float(x)


def logical_and(x: SoftBool, y: SoftBool, use_geometric_mean: bool = False) -> SoftBool:
    r"""Soft ``and`` of two SoftBools.

    * product (default): $x\,y$;
    * geometric: $\exp\big((\log\max(x,\epsilon) + \log\max(y,\epsilon))/2\big)$, $\epsilon = 10^{-10}$.

    Args:
        x: SoftBool.
        y: SoftBool broadcastable with ``x``.
        use_geometric_mean: use the geometric mean instead of the product.

    Returns:
        SoftBool of the broadcast shape.

    Raises:
        ValueError: if ``x`` and ``y`` do not broadcast.

    Examples:
        >>> import softjax as sj
        >>> sj.logical_and(jnp.array([0.5, 1.0, 0.0]), jnp.array([0.5, 0.25, 1.0]))
        Array([0.25, 0.25, 0.  ], dtype=float32)
    """
    check_broadcast("logical_and", x=x, y=y)
    x, y = ensure_float(x), ensure_float(y)
    if use_geometric_mean:
        return _geometric_and(x, y)
    return x * y


@documented_like(logical_and, "Returns", "Raises")
def logical_or(x: SoftBool, y: SoftBool, use_geometric_mean: bool = False) -> SoftBool:
    r"""Soft ``or`` of two SoftBools: $1 - \mathrm{and}(1 - x, 1 - y)$.

    * product (default): $1 - (1 - x)(1 - y)$;
    * geometric: $1 - $ geometric ``and`` of $1 - x$, $1 - y$.

    Args:
        use_geometric_mean: use geometric means instead of products.

    Examples:
        >>> import softjax as sj
        >>> sj.logical_or(jnp.array([0.5, 1.0, 0.0]), jnp.array([0.5, 0.25, 0.0]))
        Array([0.75, 1.  , 0.  ], dtype=float32)
    """
    check_broadcast("logical_or", x=x, y=y)
    x, y = ensure_float(x), ensure_float(y)
    if use_geometric_mean:
        return 1 - _geometric_and(1 - x, 1 - y)
    return 1 - (1 - x) * (1 - y)


@documented_like(logical_and, "Returns", "Raises")
def logical_xor(x: SoftBool, y: SoftBool, use_geometric_mean: bool = False) -> SoftBool:
    r"""Soft ``xor``: $\mathrm{or}(\mathrm{and}(x, 1-y), \mathrm{and}(1-x, y))$.

    Product mode: with $a = x(1-y)$, $b = (1-x)y$ the result is
    $1 - (1-a)(1-b)$. ``use_geometric_mean`` is passed to all three calls.

    Args:
        use_geometric_mean: use geometric means instead of products.

    Examples:
        >>> import softjax as sj
        >>> sj.logical_xor(jnp.array([0.0, 1.0, 0.5]), jnp.array([1.0, 1.0, 0.5]))
        Array([1.    , 0.    , 0.4375], dtype=float32)
    """
    check_broadcast("logical_xor", x=x, y=y)
    x, y = ensure_float(x), ensure_float(y)
    a = logical_and(x, 1 - y, use_geometric_mean)
    b = logical_and(1 - x, y, use_geometric_mean)
    return logical_or(a, b, use_geometric_mean)


def all(  # noqa: A001
    x: SoftBool,
    axis: int | tuple[int, ...] | None = -1,
    epsilon: float = 1e-10,
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft ``all`` along ``axis``.

    * product (default): $\prod_i x_i$;
    * geometric: $\exp\big(\operatorname{mean}_i \log\max(x_i, \epsilon)\big)$
      (so e.g. ``all([0, 1])`` is $10^{-5}$, not 0).

    Args:
        x: SoftBool (bools/ints are promoted to the default float).
        axis: axis (or tuple of axes) to reduce; default ``-1`` (unlike NumPy);
            ``None`` reduces over all axes.
        epsilon: lower clip $\epsilon$ inside the logarithm (geometric mode).
        use_geometric_mean: use the geometric mean instead of the product.

    Returns:
        SoftBool with ``axis`` removed (no ``keepdims``).

    Raises:
        ValueError: if ``axis`` is out of bounds.

    Examples:
        >>> import softjax as sj
        >>> sj.all(jnp.array([[0.5, 0.5, 1.0], [1.0, 0.25, 0.0]]))
        Array([0.25, 0.  ], dtype=float32)
        >>> sj.all(jnp.array([[0.5, 0.5, 1.0], [1.0, 0.25, 0.0]]), axis=None)
        Array(0., dtype=float32)
    """
    x = ensure_float(x)
    axis = _canonical_axes(axis, x.ndim)
    if use_geometric_mean:
        return jnp.exp(jnp.mean(jnp.log(jnp.maximum(x, epsilon)), axis=axis))
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    if not axes:
        return jnp.prod(x, axis=axes)
    # Reduced axes moved last and multiplied row by row: JAX's derivative of
    # prod reshapes the whole array, which explicit-mesh types reject.
    moved = jnp.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
    last = tuple(range(-len(axes), 0))
    return map_rows(lambda r: jnp.prod(r, axis=last), moved, trailing=len(axes))


@documented_like(all, "Raises")
def any(  # noqa: A001
    x: SoftBool,
    axis: int | tuple[int, ...] | None = -1,
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft ``any`` along ``axis``: $1 - \mathrm{all}(1 - x)$.

    * product (default): $1 - \prod_i (1 - x_i)$;
    * geometric: $1 - \exp\big(\operatorname{mean}_i \log\max(1 - x_i, 10^{-10})\big)$.

    Args:
        axis: axis (or tuple of axes) to reduce; default ``-1``; ``None``
            reduces over all axes.

    Returns:
        SoftBool with ``axis`` removed.

    Examples:
        >>> import softjax as sj
        >>> sj.any(jnp.array([[0.5, 0.5, 0.0], [1.0, 0.25, 0.0]]))
        Array([0.75, 1.  ], dtype=float32)
    """
    x = ensure_float(x)
    return 1 - all(1 - x, axis=axis, use_geometric_mean=use_geometric_mean)
