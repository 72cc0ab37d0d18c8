"""Soft top-k subset selection: ``top_k_mask``."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.kernels import row_top_k
from softjax._src.kernels.capped_simplex import project_capped_simplex, threshold_capped
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.kernels.squash import rescale
from softjax._src.methods import registry
from softjax._src.steps import sigmoidal
from softjax._src.types import Mode, SoftBool, StepMode
from softjax._src.validation import concrete_or_none, host_value, is_tracer

# top_k_mask's own relaxation, besides the registered methods that serve it
# (declared with top_k_mask=True): a real k, no method module.
OWN_METHODS = ("threshold",)


def methods() -> tuple[str, ...]:
    """Every ``method=`` of ``top_k_mask``: the registered methods serving it, then its own."""
    return registry.methods("top_k_mask") + OWN_METHODS


def real_k_methods() -> tuple[str, ...]:
    """The methods taking a real (possibly traced) ``k``, whose mask needs no repair."""
    return tuple(m for m in registry.methods("top_k_mask") if registry.METHODS[m].real_k) + OWN_METHODS


def permutation_methods() -> tuple[str, ...]:
    """The methods summing the top ``k`` rows of a soft permutation (a static int ``k``)."""
    return tuple(m for m in registry.methods("top_k_mask") if not registry.METHODS[m].real_k)


def _axis_length(x: jax.Array, axis: Any) -> int:
    return aw.reduce_axis_length(x, axis)[1]


def _check_k(k: Any, n: int, mode: str, method: str) -> int | float | jax.Array:
    """A static int ``1 <= k <= n``, a concrete float ``0 < k <= n`` or a traced scalar."""
    real_ok = mode != "hard" and method in real_k_methods()
    allowed = (
        "an int 1 <= k <= n or a real 0 < k <= n (possibly traced)"
        if real_ok
        else "an int 1 <= k <= n (static: "
        + ("hard mode" if mode == "hard" else f"method={method!r}")
        + " needs an integer number of elements)"
    )
    if isinstance(k, (bool, np.bool_)):
        raise ValueError(f"k must be {allowed}, got {k!r}")  # noqa: TRY004 (a bad value of k)
    if is_tracer(k):
        if not real_ok:
            raise ValueError(f"k must be {allowed}, got a traced value")
        if jnp.ndim(k) != 0:
            raise ValueError(f"k must be a scalar, got shape {jnp.shape(k)}")
        return k
    value = concrete_or_none(k)
    if (
        value is None
        or value.ndim != 0
        or not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating))
    ):
        raise ValueError(f"k must be {allowed}, got {k!r}")
    v = float(value)
    integral = np.issubdtype(value.dtype, np.integer) or v.is_integer()
    if not np.isfinite(v) or v <= 0 or v > n or (not integral and not real_ok):
        raise ValueError(f"k must be {allowed} with n = {n} along the axis, got k={k!r}")
    if integral and (np.issubdtype(value.dtype, np.integer) or not real_ok):
        return operator.index(int(v))
    return cast(float | jax.Array, k)  # a concrete real scalar, validated above


@functools.cache
def _step(mode: StepMode) -> Callable[[jax.Array, jax.Array], jax.Array]:
    # One object per mode: the kernel's custom_jvp keys its traces on it.
    def step(u: jax.Array, softness: jax.Array) -> jax.Array:
        return sigmoidal(u, softness, mode)

    return step


def _reach(softness: jax.Array, k: jax.Array, n: int, mode: str) -> jax.Array:
    """Width ``w`` with ``S(w) >= max(k/n, 1 - k/n)``: the threshold lies in ``[min - w, max + w]``."""
    if mode != "smooth":
        return 5.0 * softness * 1.01  # the piecewise steps are exactly 1 from u = 5 s on
    p = jnp.clip(k / n, 1e-30, 1 - 1e-7)
    return (jnp.abs(jnp.log(p) - jnp.log1p(-p)) + 1.0) * softness


def _with_unit(value: ArrayLike, unit: jax.Array | None, dtype: Any) -> jax.Array:
    """``value`` (per row) whose tangent is ``unit`` times its own, like ``xhat``'s.

    The mask is derived from ``xhat`` and leaves through ``true_tangent``,
    which divides every tangent by ``unit``; ``k`` and ``softness`` enter
    with their tangents pre-multiplied so that only ``xhat``'s is rescaled.
    """
    value = jnp.asarray(value, dtype)
    if unit is None:
        return value
    value = jnp.broadcast_to(value, unit.shape)
    return rescale(value, jnp.ones((), dtype), unit.astype(dtype))


def _real_k_mask(
    w: aw.Working, k: Any, softness: Any, mode: StepMode, module: ModuleType | None
) -> jax.Array:
    """A method's own capped-simplex mask (``module.top_k_mask``), or the threshold (``module=None``)."""
    work = jnp.float32 if w.xhat.dtype.itemsize < 4 else w.xhat.dtype
    xhat = w.xhat.astype(work)
    n = w.n
    k_t = _with_unit(k, w.unit, work)
    s_t = _with_unit(softness, w.unit, work)
    if module is not None:
        mask: jax.Array = module.top_k_mask(xhat, k_t, softness=s_t, mode=mode, options={})
        return mask
    reach = jax.lax.stop_gradient(_reach(s_t, k_t, n, mode))
    return threshold_capped(xhat, k_t, s_t, _step(mode), reach)


def _permutation_mask(w: aw.Working, k: int, softness: Any, mode: str, module: ModuleType) -> jax.Array:
    mask = module.top_k_mask(w.xhat, k, **aw.method_kwargs(softness, mode, None))
    work = jnp.float32 if mask.dtype.itemsize < 4 else mask.dtype
    # Summed rows of a row-stochastic matrix can exceed 1 (softsort, neuralsort)
    # and the transport plan meets its marginals only to the solver tolerance:
    # the Euclidean projection onto the capped simplex returns a valid mask, and
    # leaves one that already is (entries in [0, 1], sum k) and its derivative
    # unchanged.
    return project_capped_simplex(mask.astype(work), jnp.asarray(k, work), "c0")


def top_k_mask(
    x: ArrayLike,
    k: float | ArrayLike,
    axis: int | None = -1,
    *,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: str = "fast_soft_sort",
    standardize: bool = True,
) -> SoftBool:
    r"""Soft top-k subset selection: a SoftBool marking the ``k`` largest entries along ``axis``.

    The hard mask is the k-hot vector of ``jax.lax.top_k``'s indices (ties:
    the lowest index wins). The soft mask $y \in [0, 1]^n$ has $\sum_i y_i = k$
    along ``axis``, computed from the standardized-and-squashed row
    $\hat x \in (0, 1)^n$ (``standardize=True``) or from $x$ itself.

    Methods:

    * ``"fast_soft_sort"`` (default): the regularised projection of
      $z = \hat x / s$ onto the capped simplex
      $\{y \in [0,1]^n : \sum y = k\}$, the permutahedron of
      $(1, \dots, 1, 0, \dots, 0)$ (Sander et al. 2023, "Fast,
      Differentiable and Sparse Top-k: a Convex Analysis Perspective"):
      $y_i = f(z_i - \tau)$ with $\sum_i f(z_i - \tau) = k$ and
      ``smooth`` $f(u) = \min(1, e^u)$ (negative entropy),
      ``c0`` $f(u) = \mathrm{clip}(u, 0, 1)$ (Euclidean, sparse),
      ``c1`` / ``c2`` $f(u) = \mathrm{clip}(u, 0, 1)^{2}$ / $^{3}$
      (p = 3/2, 4/3, sparse, as :func:`softjax.argmax`). $\tau$ is exact:
      O(n log n) breakpoint search, then a closed form (Newton for ``c2``).
    * ``"threshold"``: $y_i = S(\hat x_i - \tau)$ with $S$ =
      :func:`softjax.sigmoidal` ``(·, softness, mode)``; $\tau$ by bracketed
      Newton with bisection fallback, O(n) per step.
    * ``"softsort"``, ``"neuralsort"``, ``"ot"``, ``"sorting_network"``: the
      sum of the first ``k`` rows of the method's descending soft permutation
      (``ot``: the column of anchor 1 of a transport to the anchors (0, 1)
      with masses $(n - k, k)/n$, Cuturi et al. 2019 / Xie et al. 2020), then
      the Euclidean projection onto the capped simplex, which leaves a valid
      mask unchanged and repairs entries above 1 (summed SoftSort or
      NeuralSort rows exceed 1 at large softness).

    Derivatives of the first two methods come from implicit differentiation
    of $\sum_i f(z_i - \tau) = k$: $d\tau = (\sum_i f'_i dz_i - dk)/\sum_i f'_i$,
    $dy_i = f'_i (dz_i - d\tau)$; second derivatives exist for ``smooth``,
    ``c1`` and ``c2``.

    Args:
        x: input array, shape ``(..., n, ...)``.
        k: number of selected elements. A Python int ``1 <= k <= n`` for
            every method (``k = n`` gives all ones); for ``"fast_soft_sort"``
            and ``"threshold"`` also a real number ``0 < k <= n``, possibly
            traced, and the mask is differentiable in ``k``. Hard mode and
            the permutation methods need an integer ``k``.
        axis: axis to select along (default ``-1``); ``None`` selects among
            all entries of the flattened array.
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard mask.
        mode: ``"hard"`` or the regulariser ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        method: one of ``"fast_soft_sort"``, ``"threshold"``, ``"softsort"``,
            ``"neuralsort"``, ``"ot"``, ``"sorting_network"``.
        standardize: standardize-and-squash ``x`` along ``axis`` first, so
            ``softness`` is scale-free.

    Returns:
        SoftBool of ``x``'s shape (float; integer input gives the default
            float dtype), entries in ``[0, 1]`` summing to ``k`` along ``axis``.
            A row containing NaN gives NaN.

    Raises:
        ValueError: for an invalid ``k``, ``mode``, ``method`` or ``softness``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.5, 2.0, 1.0, -1.0])
        >>> sj.top_k_mask(x, 2, mode="hard")
        Array([0., 1., 1., 0.], dtype=float32)
        >>> sj.top_k_mask(x, 2)
        Array([0.2380581 , 1.        , 0.74869883, 0.01324301], dtype=float32)
        >>> sj.top_k_mask(x, 2, mode="c0", softness=0.5)  # sparse
        Array([0.38541776, 1.        , 0.6145822 , 0.        ], dtype=float32)
    """
    aw.check_mode_and_softness(mode, softness)
    registry.validate(method, "top_k_mask", extra=OWN_METHODS)
    x = jnp.asarray(x)
    n = _axis_length(x, axis)
    k = host_value(_check_k(k, n, mode, method))
    softness = host_value(softness)
    if mode == "hard":
        w = aw.layout(x, axis)
        k_static = cast(int, k)  # hard mode: _check_k returned a static int
        indices = map_rows(lambda r: row_top_k.top_k_indices(r, k_static), w.x)
        mask = jnp.sum(aw.one_hot(indices, n, aw.float_dtype(x)), axis=-2)
    else:
        spec, module = (None, None) if method in OWN_METHODS else registry.load(method, "top_k_mask", mode)

        def rows(w: aw.Working, kw: dict[str, Any], *row_k: jax.Array) -> jax.Array:
            # A traced k and softness enter as operands: shard_map cannot close over them.
            k_row, softness = (row_k[0] if row_k else k), kw["softness"]
            if isinstance(k, int) and k == n:
                mask = jnp.ones_like(w.x)
            elif spec is None or spec.real_k:
                mask = _real_k_mask(w, k_row, softness, mode, module)
            else:  # a permutation method: a static int k, and its module loaded with spec
                assert module is not None
                mask = _permutation_mask(w, cast(int, k), softness, mode, module)
            return w.true_tangent(mask.astype(w.x.dtype))

        mask, w = aw.per_row(
            x,
            axis,
            rows,
            standardize=standardize,
            method=spec,
            softness=softness,
            method_kwargs={"softness": softness},
            shared=(k,) if is_tracer(k) else (),
        )
    mask = w.along_axis(mask)
    return mask.reshape(x.shape) if axis is None else mask
