"""Row-parallel execution on meshes with ``AxisType.Explicit`` axes.

Axis-wise relaxations treat each row along their axis independently, so rows
sharded over devices need no communication. On ``Explicit`` mesh axes (the
default of ``jax.make_mesh``) sharding is part of every array's type, and
every internal array of a kernel (index grids, loop carries seeded from
constants, solver states) would have to carry the data's sharding.
:func:`map_rows` keeps the kernels sharding-agnostic instead:

* rows sharded over explicit axes: the row computation runs under
  ``jax.shard_map`` over every mesh axis, so each device relaxes its own rows
  with exactly the single-device program and the outputs carry the batch
  sharding in their type;
* explicit axes present but not sharding the rows in the type (replicated
  data, or a ``vmap`` whose mapped axis is sharded): the computation runs
  with the explicit axes switched to ``Auto`` (``jax.sharding.auto_axes``),
  where the kernels' ``custom_partitioning`` rules keep rows on their device;
* no explicit axes (one device, ``Auto`` meshes, inside a user's
  ``shard_map``): the function is called directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
from jax.sharding import AxisType, PartitionSpec as P

from softjax._src.kernels.vma import vary_like

T = TypeVar("T")


def explicit_axes(x: jax.Array) -> tuple[str, ...]:
    """Names of the ``Explicit`` axes of the mesh in ``x``'s type (empty without one)."""
    mesh = getattr(jax.typeof(x).sharding, "mesh", None)
    if mesh is None or mesh.empty:
        return ()
    return tuple(
        name for name, kind in zip(mesh.axis_names, mesh.axis_types, strict=True) if kind == AxisType.Explicit
    )


def _padded_spec(x: jax.Array) -> tuple:
    """The ``PartitionSpec`` entries of ``x``'s type, one per axis."""
    entries = tuple(jax.typeof(x).sharding.spec)
    return entries + (None,) * (x.ndim - len(entries))


def map_rows(fn: Callable[..., T], x: jax.Array, *shared: jax.Array, trailing: int = 1) -> T:
    """``fn(x, *shared)`` for ``x`` of shape ``batch + (n,)``, each device on its own rows.

    ``shared`` operands are the same on every device (quantile levels, ...):
    arrays that ``fn`` needs must be passed here rather than closed over,
    since ``shard_map`` cannot close over arrays placed on an explicit mesh.
    Every output leaf of ``fn`` must have ``x``'s leading batch axes (all but
    the last ``trailing``). When an axis the operator works along is sharded,
    it is gathered once first (one all-gather of ``x``): a relaxation couples
    every element of a row.
    """
    explicit = explicit_axes(x)
    if not explicit:
        return fn(x, *shared)
    mesh = jax.typeof(x).sharding.mesh
    spec = _padded_spec(x)
    lead = spec[: x.ndim - trailing]
    batch, rows = P(*lead), P(*lead, *(None,) * trailing)
    if any(entry is not None for entry in spec[x.ndim - trailing :]):
        x = jax.sharding.reshard(x, rows)
    used = {
        name
        for entry in lead
        if entry is not None
        for name in (entry if isinstance(entry, tuple) else (entry,))
    }
    if used:
        # Manual over every mesh axis: XLA cannot host a side-effecting
        # callback (ot's convergence warning) in a partly manual shard_map.
        # check_vma=True: the rows are known to be invariant over the axes
        # they are replicated over, so their cotangents need no sum over
        # those axes (the kernels mark loop carries seeded from constants as
        # varying, and a traced softness comes in as an operand).
        def per_device(x: jax.Array, *shared: jax.Array) -> T:
            # Shared operands marked as varying like the rows once, here: the
            # sum of their gradients over the devices then sits at the top of
            # the row computation, never inside a lax.cond whose branch each
            # device picks from its own rows (devices on different branches
            # would wait for each other's sum forever).
            return fn(x, *vary_like(shared, x))

        return jax.shard_map(
            per_device,
            mesh=mesh,
            in_specs=(rows,) + (P(),) * len(shared),
            out_specs=batch,
            axis_names=set(mesh.axis_names),
            check_vma=True,
        )(x, *shared)
    out_sharding = jax.tree.map(lambda _: batch, jax.eval_shape(fn, x, *shared))
    return jax.sharding.auto_axes(fn, axes=explicit, out_sharding=out_sharding)(x, *shared)


def map_replicated(fn: Callable[..., T], *args: jax.Array) -> T:
    """``fn(*args)`` for a reduction over all of its operands (a histogram of every sample).

    Its outputs do not follow the operands' layout, so where the operands
    carry explicit mesh axes ``fn`` runs with those axes switched to ``Auto``
    (XLA partitions it and reduces across devices) and its outputs are
    replicated, as those of ``jnp.sum`` over a sharded axis are.
    """
    explicit = sorted({name for arg in args for name in explicit_axes(arg)})
    if not explicit:
        return fn(*args)
    # The output structure, traced without the operands' shardings (``fn``
    # need not accept explicitly sharded operands).
    unsharded = [jax.ShapeDtypeStruct(arg.shape, arg.dtype) for arg in args]
    out_sharding = jax.tree.map(lambda _: P(), jax.eval_shape(fn, *unsharded))
    return jax.sharding.auto_axes(fn, axes=tuple(explicit), out_sharding=out_sharding)(*args)


def whole_axis(x: jax.Array, axis: int) -> jax.Array:
    """``x`` with ``axis`` unsharded: one all-gather where an explicit mesh axis shards it.

    An integer gather along an axis (``take``, ``take_along_axis``) needs
    the whole axis on every device; on explicit meshes it does not gather it
    by itself.
    """
    if not explicit_axes(x):
        return x
    spec = list(_padded_spec(x))
    if spec[axis] is None:
        return x
    spec[axis] = None
    return jax.sharding.reshard(x, P(*spec))


def align_leading(a: jax.Array, b: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """``a`` and ``b`` with the same explicit sharding on their first ``n`` axes.

    Where one operand shards a leading axis and the other does not, the other
    takes that sharding (a local slice of a replicated array, no transfer):
    batched products on explicit meshes need equal batch shardings.
    """
    if not (explicit_axes(a) or explicit_axes(b)):
        return a, b
    sa, sb = _padded_spec(a), _padded_spec(b)
    lead = tuple(ea if ea is not None else eb for ea, eb in zip(sa[:n], sb[:n], strict=False))

    def fit(arr: jax.Array, own: tuple) -> jax.Array:
        want = lead + own[n:]
        return arr if want == own else jax.sharding.reshard(arr, P(*want))

    return fit(a, sa), fit(b, sb)


__all__ = ["align_leading", "explicit_axes", "map_replicated", "map_rows", "whole_axis"]
