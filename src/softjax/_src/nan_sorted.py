r"""Soft-sorted values of the valid entries of rows with NaN entries.

For the methods whose values are read off a soft sort (``sorting_network``,
``fast_soft_sort``, ``smooth_sort``) the NaN-aware statistics need the soft
sort of each row's valid entries; :func:`sorted_valid` returns it inside the
full-length row together with where each valid order statistic sits.

* ``sorting_network``: rows compacted (valid entries first) with sentinels
  above, where the network keeps its own padding: the valid entries meet
  the comparators of the ``n_v``-element network whenever both lengths pad
  to the same power of two (exact to rounding), else pass through the extra
  merge layers of the larger network.
* ``fast_soft_sort``: the isotonic regression with the anchors of ``n_v``
  entries and sentinel scores that are never pooled with a valid entry:
  exact to rounding (:func:`fast_soft_sort_descending`).
* ``smooth_sort``: anchors of ``n_v`` entries, sentinel anchors far below
  (their majorization constraints are then tight), and sentinels one unit
  below the valid minimum. The relaxation's fixed-weight entropy on the
  gap between the lowest valid output and the sentinels pushes on the valid
  outputs unless that gap is exactly 1; it is close to 1 when the lowest
  output is close to the lowest input (small softness), so the result is
  close to the valid-subset one there and approximate otherwise
  (:func:`smooth_sort_ascending`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from softjax._src import axiswise as aw
from softjax._src.kernels.esp_bounds import esp_bounds
from softjax._src.kernels.permutahedron import project_presorted
from softjax._src.kernels.smooth_sort import smooth_project
from softjax._src.kernels.squash import rescale
from softjax._src.methods.declaration import MethodSpec
from softjax._src.nan_rows import GAP, NanRows


def sorted_valid(
    rows: NanRows, method: MethodSpec, module: Any, kw: dict[str, Any], gated: bool
) -> tuple[jax.Array, Callable[[jax.Array], jax.Array]]:
    """Soft-sorted values ``batch + (n,)`` of a sorted-values method, and where each valid one sits.

    Returns the values and ``index(k)``: the position in them of the
    ``k``-th smallest valid entry (``k`` int32 of shape ``batch``): ``k``
    for the sorting network (ascending, sentinels above), ``n_v - 1 - k`` for
    ``fast_soft_sort`` (descending), ``m + k`` for ``smooth_sort`` and any
    other registered method (ascending, sentinels below).
    """
    w = rows.w
    if method.name == "sorting_network":
        return aw.sorted_values(w, module, kw, descending=False, gated=gated), lambda k: k
    if method.name == "fast_soft_sort":

        def sort(x: jax.Array, xhat: jax.Array, to_raw: Callable[[jax.Array], jax.Array]) -> jax.Array:
            return to_raw(fast_soft_sort_descending(xhat, rows.count, kw["softness"], kw["mode"]))

        return _sorted_with(w, sort), lambda k: rows.count - 1 - k
    if method.name == "smooth_sort":
        values = smooth_sort_ascending(module, w.x, rows.valid, rows.count, kw["softness"])
        return values, lambda k: rows.missing + k
    return aw.sorted_values(w, module, kw, descending=False, gated=gated), lambda k: rows.missing + k


def _sorted_with(w: aw.Working, sort: Callable[..., jax.Array]) -> jax.Array:
    """``axiswise.sorted_values`` (ascending) for a sort function ``sort(x, xhat, unsquash)``."""
    if w.unit is None:
        return sort(w.x, w.xhat, w.unsquash)
    one = jnp.ones((), w.x.dtype)
    inv = 1.0 / w.unit

    def unsquash_scaled(y: jax.Array) -> jax.Array:
        return rescale(w.unsquash(y), inv, one)

    return rescale(sort(rescale(w.x, inv, one), w.xhat, unsquash_scaled), w.unit, one)


def _psi_inverse(v: jax.Array, mode: str) -> jax.Array:
    """The inverse of the permutahedron's ``psi`` (t, t, t|t|, t^3 for smooth, c0, c1, c2)."""
    if mode == "c1":
        return jnp.sign(v) * jnp.sqrt(jnp.abs(v))
    if mode == "c2":
        return jnp.cbrt(v)
    return v


def fast_soft_sort_descending(xhat: jax.Array, count: jax.Array, softness: Any, mode: str) -> jax.Array:
    r"""``fast_soft_sort``'s descending projection; its first ``n_v`` outputs are those of the valid entries.

    The projection is a non-increasing isotonic regression of the scores
    $\zeta$ (anchors over the softness) against the sorted values $\omega$,
    whose blocks are found left to right. The valid entries come first (the
    sentinels are below them) and get the anchors of ``n_v`` entries, so
    they form the blocks of the valid entries alone unless a block merges a
    sentinel with a valid entry. A block's value is at least
    $-\max_B \psi^{-1}(\omega)$ (every valid $\zeta \ge 0$), so each sentinel
    gets the score $\psi^{-1}(\omega_s) - 2b - 1$, $b = \max_{valid}
    |\psi^{-1}(\omega)|$: its singleton value $-2b - 1$ is below every valid
    block's and it is never pooled. A row without NaN gets
    ``fast_soft_sort.sort``'s scores bit for bit.
    """
    n = xhat.shape[-1]
    dtype = xhat.dtype
    j = jnp.arange(n)
    nv = count[..., None]
    head = j < nv
    zeta_valid = (nv - 1 - j).astype(dtype) / jnp.maximum(nv - 1, 1).astype(dtype) / softness
    omega = jnp.sort(xhat, axis=-1, descending=True)
    inverse = _psi_inverse(jax.lax.stop_gradient(omega), mode)
    bound = jnp.max(jnp.where(head, jnp.abs(inverse), 0), axis=-1, keepdims=True)
    zeta_pad = (inverse - 2 * bound - 1).astype(zeta_valid.dtype)
    projected: jax.Array = project_presorted(jnp.where(head, zeta_valid, zeta_pad), omega, mode)
    return projected


def smooth_sort_ascending(
    module: Any, x: jax.Array, valid: jax.Array, count: jax.Array, softness: Any
) -> jax.Array:
    r"""``smooth_sort.sort`` (ascending) of the valid entries, after ``m`` sentinel outputs.

    The valid entries get the anchors of ``n_v`` entries, $j / (n_v - 1)$;
    the sentinels the same spacing ending $100 s$ below them (their gaps,
    times the gain $1/s$, make every majorization constraint between them
    and the valid entries tight to $e^{-100}$). The sentinels sit at
    $\min_V x - 1 - \tau \log m$ ($\tau = \min(s, 1)$): the top one of ``m``
    equal sentinels comes out $\tau \log m$ above its input, so its output
    is one unit below the lowest valid input, where the fixed-weight entropy
    of that gap exerts no force. A row without NaN gets ``smooth_sort.sort``
    bit for bit.
    """
    module._warn_float32_precision(x, "sort")
    n = x.shape[-1]
    dt = module.work_dtype(x)
    tiny = module._min_temperature(dt)
    s = jnp.asarray(softness, dt)
    tau = jnp.asarray(module._bound_temperature(softness), dt)
    m = (n - count)[..., None]
    lo = jnp.min(jnp.where(valid, x, jnp.inf), axis=-1, keepdims=True).astype(dt)
    lo = jax.lax.stop_gradient(jnp.where(count[..., None] > 0, lo, 0))
    log_m = jnp.log(jnp.maximum(m, 1).astype(dt))
    sentinel = lo - 1 - jax.lax.stop_gradient(tau) * log_m
    xw = jnp.where(valid, x.astype(dt), sentinel)
    j = jnp.arange(n)
    spacing = jnp.maximum(count - 1, 1)[..., None].astype(dt)
    # For j >= m: (j - m) / (n_v - 1), the valid entries' anchors; below, 100 s under them.
    anchors = (j - m).astype(dt) / spacing
    anchors = jnp.where(j >= m, anchors, anchors - GAP * jax.lax.stop_gradient(s))
    centre, scale, inv_scale = module._row_frame(xw, jnp.maximum(tau, jnp.finfo(dt).tiny))
    gain = jnp.broadcast_to(1.0 / jnp.maximum(s, tiny), scale.shape[:-1])
    y = _sort_framed(xw, tau, gain, centre, scale, inv_scale, jax.lax.stop_gradient(anchors), tiny)
    return y.astype(x.dtype)


def _sort_in_units(
    xp: jax.Array, tau: jax.Array, gain: jax.Array, scale: jax.Array, anchors: jax.Array, tiny: jax.Array
) -> jax.Array:
    """``smooth_sort._sort_in_units`` with the anchors given."""
    b, b_n = esp_bounds(xp, jnp.maximum(tau, tiny))
    y: jax.Array = smooth_project(anchors, b, b_n, gain=gain, log_scale=jnp.log(scale[..., 0]))
    return y


@jax.custom_jvp
def _sort_framed_raw(
    x: jax.Array,
    tau: jax.Array,
    gain: jax.Array,
    centre: jax.Array,
    scale: jax.Array,
    inv_scale: jax.Array,
    anchors: jax.Array,
    tiny: jax.Array,
) -> jax.Array:
    """``smooth_sort._sort_framed`` with the anchors given (a constant)."""
    return centre + scale * _sort_in_units(
        (x - centre) * inv_scale, tau * inv_scale, gain, scale, anchors, tiny
    )


@_sort_framed_raw.defjvp
def _sort_framed_jvp(primals: tuple[jax.Array, ...], tangents: tuple[jax.Array, ...]) -> Any:
    # As smooth_sort._sort_framed_jvp: the frame is exact, data and temperature
    # tangents enter unscaled, only the unitless gain's is scaled.
    x, tau, gain, centre, scale, inv_scale, anchors, tiny = primals
    dx, dtau, dgain = tangents[:3]

    def in_units(xp: jax.Array, taup: jax.Array, gain: jax.Array) -> jax.Array:
        return _sort_in_units(xp, taup, gain, scale, anchors, tiny)

    taup = tau * inv_scale
    y, dy = jax.jvp(
        in_units,
        ((x - centre) * inv_scale, taup, gain),
        (dx, jnp.broadcast_to(dtau, taup.shape), dgain * scale[..., 0]),
    )
    return centre + scale * y, dy


def _sort_framed(
    x: jax.Array,
    tau: jax.Array,
    gain: jax.Array,
    centre: jax.Array,
    scale: jax.Array,
    inv_scale: jax.Array,
    anchors: jax.Array,
    tiny: float,
) -> jax.Array:
    out: jax.Array = _sort_framed_raw(
        x, tau, gain, centre, scale, inv_scale, anchors, jnp.asarray(tiny, x.dtype)
    )
    return out
