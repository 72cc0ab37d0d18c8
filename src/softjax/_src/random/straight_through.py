r"""Straight-through samplers: the ``"_hard"`` sample's value,
the soft sample's gradient.

Each ``X_st`` has exactly ``X``'s signature (so positional arguments after
``mode`` keep their places) and evaluates ``X`` twice with every
argument identical, key included, so both passes see the same noise:
``fw = X(..., mode="_hard")`` and ``bw = X(..., mode=mode)``. The result is
``splice(fw, bw)``: bit for bit ``fw`` (no ``sg(fw − bw) + bw``
rounding) with the derivative of ``bw`` (zero where ``bw`` is not finite).
``mode="hard"`` gives the ``_hard`` value with the (zero or gather)
derivative of the ``jax.random`` sample; ``mode="_hard"`` returns ``fw`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax.typing import ArrayLike

from softjax._src.docstrings import with_args_of
from softjax._src.random.bernoulli import bernoulli, binomial, rademacher
from softjax._src.random.categorical import categorical
from softjax._src.random.choice import choice, permutation
from softjax._src.random.multinomial import multinomial
from softjax._src.straight_through import splice
from softjax._src.types import Method, SoftBool, SoftIndex


def _straight_through(fn: Callable[..., Any], mode: str, *args: Any, **kwargs: Any) -> jax.Array:
    forward: jax.Array = fn(*args, mode="_hard", **kwargs)
    if mode == "_hard":
        return forward
    out: jax.Array = splice(forward, fn(*args, mode=mode, **kwargs))
    return out


def categorical_st(
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
    r"""Straight-through :func:`categorical`: hard one-hot value, soft gradient.

    The value is the ``"_hard"`` one-hot, i.e. ``jax.random.categorical``'s
    sample for finite logits (bit for bit, also as log-probabilities: 0 / −inf,
    never NaN); the derivative is that of ``categorical(..., mode=mode)`` with
    the same key.

    Signature and arguments are those of :func:`categorical`.

    Returns:
        SoftIndex of shape ``S + (n,)``.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> logits = jnp.log(jnp.array([0.2, 0.3, 0.5]))
        >>> sj.random.categorical_st(jax.random.key(0), logits)
        Array([0., 1., 0.], dtype=float32)
    """
    return _straight_through(
        categorical, mode, key, logits, axis=axis, shape=shape, replace=replace,
        rng_mode=rng_mode, softness=softness, method=method, noise=noise,
        standardize=standardize, ot_kwargs=ot_kwargs, return_log_probs=return_log_probs,
        log_prob_eps=log_prob_eps,
    )  # fmt: skip


def bernoulli_st(
    key: ArrayLike,
    p: ArrayLike = 0.5,
    shape: int | tuple[int, ...] | None = None,
    rng_mode: str = "low",
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    noise: str = "uniform",
) -> SoftBool:
    r"""Straight-through :func:`bernoulli`: the ``jax.random.bernoulli`` value, soft gradient.

    Signature and arguments are those of :func:`bernoulli`.

    Returns:
        0/1 values in ``p``'s dtype with the derivative of the soft sample.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> sj.random.bernoulli_st(jax.random.key(0), jnp.array([0.1, 0.5, 0.9]))
        Array([0., 0., 1.], dtype=float32)
    """
    return _straight_through(bernoulli, mode, key, p, shape, rng_mode, softness=softness, noise=noise)


def rademacher_st(
    key: ArrayLike,
    shape: int | tuple[int, ...] = (),
    dtype: Any = None,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    noise: str = "uniform",
) -> jax.Array:
    r"""Straight-through :func:`rademacher`: ``jax.random.rademacher``'s ±1 values (float).

    Signature and arguments are those of :func:`rademacher`.

    Returns:
        Float array of shape ``shape``.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> sj.random.rademacher_st(jax.random.key(0), (3,))
        Array([-1., -1.,  1.], dtype=float32)
    """
    return _straight_through(rademacher, mode, key, shape, dtype, softness=softness, noise=noise)


def binomial_st(
    key: ArrayLike,
    n: Any,
    p: ArrayLike,
    shape: int | tuple[int, ...] | None = None,
    dtype: Any = None,
    softness: float | jax.Array = 0.1,
    mode: str = "smooth",
    noise: str = "uniform",
) -> jax.Array:
    r"""Straight-through :func:`binomial`: integer ``_hard`` counts, soft gradient.

    Signature and arguments are those of :func:`binomial`.

    Returns:
        Float array of counts in ``[0, n]``.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> sj.random.binomial_st(jax.random.key(0), 10, jnp.array([0.2, 0.7]))
        Array([2., 7.], dtype=float32)
    """
    return _straight_through(binomial, mode, key, n, p, shape, dtype, softness=softness, noise=noise)


def multinomial_st(
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
    r"""Straight-through :func:`multinomial`: integer ``_hard`` counts, soft gradient.

    Signature and arguments are those of :func:`multinomial`.

    Returns:
        Float array of counts summing to ``n`` along the last axis.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> p = jnp.array([0.2, 0.3, 0.5])
        >>> sj.random.multinomial_st(jax.random.key(0), 10, p)
        Array([3., 2., 5.], dtype=float32)
    """
    return _straight_through(
        multinomial, mode, key, n, p, shape=shape, dtype=dtype, unroll=unroll,
        softness=softness, method=method, noise=noise, standardize=standardize,
        ot_kwargs=ot_kwargs,
    )  # fmt: skip


def choice_st(
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
    r"""Straight-through :func:`choice`: exactly the ``_hard`` pick, soft gradient.

    Signature and arguments are those of :func:`choice`.

    Returns:
        The ``_hard`` sample (in the soft output's float dtype), shaped as
            :func:`choice`'s output.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> a = jnp.array([1.0, 2.0, 3.0, 4.0])
        >>> sj.random.choice_st(jax.random.key(0), a, (2,))
        Array([2., 4.], dtype=float32)
    """
    return _straight_through(
        choice, mode, key, a, shape, replace, p, axis, rng_mode, softness=softness,
        method=method, noise=noise, standardize=standardize, ot_kwargs=ot_kwargs,
    )  # fmt: skip


def permutation_st(
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
    r"""Straight-through :func:`permutation`: exactly the ``_hard`` order, soft gradient.

    Signature and arguments are those of :func:`permutation`.

    Returns:
        The ``_hard`` permutation of ``x`` (float dtype), ``x``'s shape.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> x = jnp.array([1.0, 2.0, 3.0])
        >>> sj.random.permutation_st(jax.random.key(0), x)
        Array([2., 1., 3.], dtype=float32)
    """
    return _straight_through(
        permutation, mode, key, x, axis, independent, out_sharding=out_sharding,
        rng_mode=rng_mode, softness=softness, method=method, noise=noise,
        standardize=standardize, ot_kwargs=ot_kwargs,
    )  # fmt: skip


# Every twin lists its sampler's arguments: the Args: entries are copied from
# the sampler's docstring, with ``mode`` described for the straight-through use.
_MODE = (
    'relaxation whose derivative is returned: ``"smooth"`` (default), ``"c0"``, '
    '``"c1"`` or ``"c2"``; ``"hard"`` gives the ``"_hard"`` value with the derivative '
    'of the ``jax.random`` sample, and ``"_hard"`` the ``"_hard"`` sample alone.'
)
for _twin, _sampler in (
    (categorical_st, categorical),
    (bernoulli_st, bernoulli),
    (rademacher_st, rademacher),
    (binomial_st, binomial),
    (multinomial_st, multinomial),
    (choice_st, choice),
    (permutation_st, permutation),
):
    _twin.__doc__ = with_args_of(_twin.__doc__ or "", _sampler, {"mode": _MODE})
del _twin, _sampler
