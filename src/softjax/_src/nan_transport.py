r"""``method="ot"`` on rows with NaN entries: the sentinels get an anchor of their own.

:mod:`softjax._src.methods.ot` transports the ``n`` entries of a row (mass
``1/n`` each) to a few anchors in ``[0, 1]``. On a row with ``m`` NaN
entries the sentinels (see :mod:`softjax._src.nan_rows`) are sent to one
extra anchor placed at the sentinel value, with mass ``m/n``, and the
anchors of the operator keep the masses of the ``n_v`` valid entries alone
(``argmax``: ``(n_v - 1, 1)``; quantiles: ``(k, 1, k' - k, n_v - k' - 1)``).
The sentinels lie at least ``1 + 100 s`` beyond every anchor and valid
entry, so the cost matrix is block diagonal up to terms of weight
$e^{-100}$ (exactly zero in the sparse modes) and the plan of the valid
entries is that of the valid entries alone, scaled by ``n_v / n``: entropy
is invariant to that scale, and the p-norm modes get their softness scaled
back per row (:func:`softjax._src.nan_rows.method_kwargs`).

Sharing the operator's own anchors with the sentinels instead would leave a
column whose mass the sentinels fill exactly (``k = 0``, or ``argmax`` of a
single valid entry): Sinkhorn then drives the valid entries' share of it to
zero only sublinearly and stops at its iteration cap.

A batch without NaN takes the operator's own call (``lax.cond``), so its
values are bit for bit those of :func:`softjax.argmax` and
:func:`softjax.quantile`. In a batch with NaN the rows without one still
take that call (selected per row): solved with an empty extra anchor they
would not be the same problem (the marginal floor gives it a mass of
``1e-12``, next to the row's smallest entry), and in float32 their
gradients would be off by up to 1e-2.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from softjax._src.kernels.batch_predicate import all_rows
from softjax._src.nan_rows import NanRows


def transport_rows(
    module: Any,
    rows: NanRows,
    kw: dict[str, Any],
    row_kw: dict[str, Any],
    log: bool,
    k: jax.Array | None = None,
    k_next: jax.Array | None = None,
    interpolating: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """The ``argmax`` row (``k`` is ``None``, returned twice) or the rows of the valid order statistics.

    ``k``, ``k_next`` (int32, shape ``batch``) count among the valid entries;
    ``kw`` are the operator's method arguments, ``row_kw`` the same with the
    per-row softness. Returns ``batch + (n,)`` SoftIndex rows (NaN entries
    not yet masked).
    """

    full = rows.count == rows.w.n

    def plain(xhat: jax.Array) -> tuple[jax.Array, jax.Array]:
        if k is None or k_next is None:
            p = module.argmax(xhat, log=log, **kw)
            return p, p
        # Every row without NaN has the same k: take a full row's.
        first = jnp.unravel_index(jnp.argmax(full.ravel()), full.shape) if full.ndim else ()
        rows_k: tuple[jax.Array, jax.Array] = module.quantile_rows(
            xhat, k[first], k_next[first], log=log, interpolating=interpolating, **kw
        )
        return rows_k

    def separated(xhat: jax.Array) -> tuple[jax.Array, jax.Array]:
        work, dtype = module._upcast(xhat)
        n = rows.w.n
        # An all-NaN row is solved as n entries at the sentinel (its result is discarded).
        count = jnp.where(rows.count == 0, n, rows.count).astype(work.dtype)
        if k is None or k_next is None:
            anchors: tuple[float, ...] = (0.0, 1.0)
            masses = [count - 1, jnp.ones_like(count)]
            columns = (1, 1)
        else:
            lo, hi = k.astype(work.dtype), k_next.astype(work.dtype)
            if interpolating:
                anchors, columns = (0.0, 1 / 3, 2 / 3, 1.0), (1, 2)
                masses = [lo, jnp.ones_like(lo), hi - lo, count - hi - 1]
            else:
                anchors, columns = (0.0, 0.5, 1.0), (1, 1)
                masses = [lo, jnp.ones_like(lo), count - lo - 1]
        sentinel = jax.lax.stop_gradient(jnp.min(work, axis=-1, keepdims=True))  # sentinels lie below
        grid = jnp.broadcast_to(jnp.asarray(anchors, work.dtype), (*sentinel.shape[:-1], len(anchors)))
        all_anchors = jnp.concatenate([sentinel, grid], axis=-1)[..., None, :]
        all_masses = jnp.stack([n - count, *masses], axis=-1)
        plan = module._plan(work, all_anchors, all_masses, log=log, **row_kw)
        first, second = (module._finish(plan[..., c + 1], dtype, log) for c in columns)
        return first, second

    def selected_by_row(xhat: jax.Array) -> tuple[jax.Array, jax.Array]:
        # Rows with NaN enter the operator's own call as zeros (an easy
        # problem whose answer is discarded): their sentinels far below would
        # only slow its solver down.
        own = plain(jnp.where(full[..., None], xhat, jnp.zeros_like(xhat)))
        apart = separated(xhat)
        return jnp.where(full[..., None], own[0], apart[0]), jnp.where(full[..., None], own[1], apart[1])

    out: tuple[jax.Array, jax.Array] = jax.lax.cond(all_rows(full), plain, selected_by_row, rows.w.xhat)
    return out
