"""Data-parallel sharding check, run in a subprocess by ``tests/test_sharding.py``.

Not collected by pytest (the name does not match ``test_*.py``): it needs
``--xla_force_host_platform_device_count=8`` in ``XLA_FLAGS`` *before* JAX is
imported, which the test process (``conftest.py`` imports JAX) cannot do.
Standalone: ``python tests/sharding_check.py [method ...]`` prints the JSON
report (``SOFTJAX_SHARDING_FULL=1``: every operator and mode;
``SOFTJAX_SHARDING_OPS=random.,argmin``: only names containing a substring).

For every method of ``axiswise_cases`` (and one ``elementwise`` group) the
operators allowed there, in every mode the method supports (named
``op@mode``), are traced into ONE function ``f(x, keys) -> (outputs, grads)``
(``grads[name]`` = gradient of a fixed random linear functional of
``outputs[name]``; one backward pass for all) so that each group compiles only
three times:

* ``single``: on one device (the reference);
* ``jit``: ``x`` of shape ``(8, 6)`` sharded as ``P("data", None)`` on 8 CPU
  devices, keys sharded along ``"data"``;
* ``shard_map``: the same function mapped over the batch axis (one row per
  device; shared-key random draws are left out there, see ``_shared_key``).

The report (JSON on stdout) holds, per group, the largest value/gradient
mismatch against ``single`` (per operator), every output whose sharding is not
``P("data", ...)``, and the collectives / host callbacks found in the compiled
HLO text. A plain-SGD training step on a sharded batch closes the report.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # must precede the JAX import
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()

import json
import re
import time
import warnings
import zlib

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import softjax as sj
from axiswise_cases import ALL_METHODS, ALL_OPS, MODES, supports

shard_map = getattr(jax, "shard_map", None)
if shard_map is None:  # pragma: no cover - older JAX
    from jax.experimental.shard_map import shard_map

BATCH, N = 8, 6
RANDOM_METHODS = ("softsort", "neuralsort", "sorting_network", "ot")  # softjax.random's methods
SOFTNESS = 0.5  # keeps the soft paths away from their hard limit at n = 6


# --- operator tables -------------------------------------------------------------
# Each entry maps a name to fn(x, keys, key) -> array (or tuple of arrays) whose
# axis 0 is the batch axis. ``keys`` is the sharded per-row key batch, ``key``
# one shared key (None inside shard_map: a shared key would draw the same noise
# on every shard there).

# *_st counterparts of the axis-wise operators of ``axiswise_cases`` (same
# arguments; the allowed methods are taken from ``ALL_OPS``).
_ST = {
    "argmax": lambda x, **kw: sj.argmax_st(x, **kw),
    "argmin": lambda x, **kw: sj.argmin_st(x, **kw),
    "argsort": lambda x, **kw: sj.argsort_st(x, **kw),
    "argsort_desc": lambda x, **kw: sj.argsort_st(x, descending=True, **kw),
    "argquantile": lambda x, **kw: sj.argquantile_st(x, 0.3, **kw),
    "argmedian": lambda x, **kw: sj.argmedian_st(x, **kw),
    "argpercentile": lambda x, **kw: sj.argpercentile_st(x, 75.0, **kw),
    "top_k_index": lambda x, **kw: sj.top_k_st(x, 2, **kw)[1],
    "max": lambda x, **kw: sj.max_st(x, **kw),
    "min": lambda x, **kw: sj.min_st(x, **kw),
    "sort": lambda x, **kw: sj.sort_st(x, **kw),
    "sort_desc": lambda x, **kw: sj.sort_st(x, descending=True, **kw),
    "rank": lambda x, **kw: sj.rank_st(x, **kw),
    "quantile": lambda x, **kw: sj.quantile_st(x, 0.3, **kw),
    "median": lambda x, **kw: sj.median_st(x, **kw),
    "percentile": lambda x, **kw: sj.percentile_st(x, 75.0, **kw),
    "top_k_values": lambda x, **kw: sj.top_k_st(x, 2, **kw)[0],
}
assert set(_ST) == set(ALL_OPS), "keep _ST in sync with axiswise_cases.ALL_OPS"


def _random_method_ops(method, mode):
    kw = dict(softness=SOFTNESS, mode=mode, method=method)
    r = sj.random

    def per_row(sampler):
        return lambda x, keys, key: jax.vmap(sampler)(keys, x)

    ops = {
        "random.categorical[row keys]": per_row(lambda k, row: r.categorical(k, row, **kw)),
        "random.categorical_st[row keys]": per_row(lambda k, row: r.categorical_st(k, row, **kw)),
        "random.categorical[no replace, row keys]": per_row(
            lambda k, row: r.categorical(k, row, shape=(2,), replace=False, **kw)
        ),
        "random.choice[row keys]": per_row(
            lambda k, row: r.choice(k, row, (3,), replace=False, p=jax.nn.softmax(row), **kw)
        ),
        "random.choice_st[row keys]": per_row(
            lambda k, row: r.choice_st(k, row, (3,), p=jax.nn.softmax(row), **kw)
        ),
        "random.multinomial[row keys]": per_row(
            lambda k, row: r.multinomial(k, 3, jax.nn.softmax(row), **kw)
        ),
        "random.multinomial_st[row keys]": per_row(
            lambda k, row: r.multinomial_st(k, 3, jax.nn.softmax(row), **kw)
        ),
        "random.permutation[row keys]": per_row(lambda k, row: r.permutation(k, row, **kw)),
        "random.permutation_st[row keys]": per_row(lambda k, row: r.permutation_st(k, row, **kw)),
        # One shared key, noise drawn for the whole (sharded) batch.
        "random.categorical[shared key]": _shared_key(lambda key, x: r.categorical(key, x, **kw)),
        "random.permutation[shared key]": _shared_key(
            lambda key, x: r.permutation(key, x, axis=1, independent=True, **kw)
        ),
    }
    return ops


def _shared_key(fn):
    def op(x, keys, key):
        return None if key is None else fn(key, x)

    return op


def axiswise_ops(method, mode):
    kw = dict(axis=-1, softness=SOFTNESS, mode=mode, method=method)
    ops = {}
    for name, (fn, allowed) in ALL_OPS.items():
        if method in allowed:
            ops[name] = (lambda f: lambda x, keys, key: f(x, **kw))(fn)
            ops[name + "_st"] = (lambda f: lambda x, keys, key: f(x, **kw))(_ST[name])
    if method in TOP_K_MASK_METHODS:
        ops.update(_top_k_mask_ops(method, mode))
    if method in RANDOM_METHODS:
        ops.update(_random_method_ops(method, mode))
    return ops


# top_k_mask's methods; "threshold" (not a sorting method) rides in the
# fast_soft_sort group, as do the real-valued k of both.
TOP_K_MASK_METHODS = ("softsort", "neuralsort", "ot", "sorting_network", "fast_soft_sort")


def _top_k_mask_ops(method, mode):
    kw = dict(axis=-1, softness=SOFTNESS, mode=mode)
    ops = {
        "top_k_mask": lambda x, *_: sj.top_k_mask(x, 2, method=method, **kw),
        "top_k_mask_st": lambda x, *_: sj.top_k_mask_st(x, 2, method=method, **kw),
    }
    if method == "fast_soft_sort":
        ops.update(
            {
                "top_k_mask[real k]": lambda x, *_: sj.top_k_mask(x, 2.5, method=method, **kw),
                "top_k_mask[threshold]": lambda x, *_: sj.top_k_mask(x, 2, method="threshold", **kw),
                "top_k_mask[threshold, real k]": lambda x, *_: sj.top_k_mask(
                    x, 2.5, method="threshold", **kw
                ),
            }
        )
    return ops


def elementwise_ops(mode):
    kw = dict(softness=SOFTNESS, mode=mode)
    r = sj.random
    y = 0.3
    ops = {
        "sigmoidal": lambda x, *_: sj.sigmoidal(x, **kw),
        "softrelu": lambda x, *_: sj.softrelu(x, **kw),
        "softrelu_gated": lambda x, *_: sj.softrelu(x, gated=True, **kw),
    }
    for name in (
        "abs",
        "heaviside",
        "relu",
        "round",
        "sign",
        "floor",
        "ceil",
        "trunc",
        "relu6",
        "hard_tanh",
        "hard_sigmoid",
        "hard_silu",
    ):
        for suffix in ("", "_st"):
            ops[name + suffix] = (lambda f: lambda x, *_: f(x, **kw))(getattr(sj, name + suffix))
    for name, other in (
        ("maximum", y),
        ("minimum", y),
        ("mod", 0.7),
        ("remainder", -0.7),
        ("floor_divide", 0.7),
    ):
        for suffix in ("", "_st"):
            ops[name + suffix] = (lambda f, o: lambda x, *_: f(x, o, **kw))(getattr(sj, name + suffix), other)
    for suffix in ("", "_st"):
        ops["ptp" + suffix] = (lambda f: lambda x, *_: f(x, axis=-1, **kw))(getattr(sj, "ptp" + suffix))
    for suffix in ("", "_st"):
        ops["clip" + suffix] = (lambda f: lambda x, *_: f(x, -0.5, 0.5, **kw))(getattr(sj, "clip" + suffix))
    for name in ("equal", "greater", "greater_equal", "isclose", "less", "less_equal", "not_equal"):
        for suffix in ("", "_st"):
            ops[name + suffix] = (lambda f: lambda x, *_: f(x, y, **kw))(getattr(sj, name + suffix))

    # Searching, binning, counting and cumulative operators, per row where the
    # jnp twin reduces over the whole array (a row is one device's data).
    edges = jnp.linspace(-1.5, 1.5, 7)
    for suffix in ("", "_st"):
        f = lambda name, sfx=suffix: getattr(sj, name + sfx)
        ops.update(
            {
                "searchsorted" + suffix: (lambda g: lambda x, *_: g(edges, x, **kw))(f("searchsorted")),
                "digitize" + suffix: (lambda g: lambda x, *_: g(x, edges, **kw))(f("digitize")),
                "histogram" + suffix: (
                    lambda g: lambda x, *_: jax.vmap(lambda row: g(row, edges, **kw)[0])(x)
                )(f("histogram")),
                "bincount" + suffix: (
                    lambda g: lambda x, *_: jax.vmap(lambda row: g(jnp.abs(row) * 2, length=5, **kw))(x)
                )(f("bincount")),
                "one_hot" + suffix: (lambda g: lambda x, *_: g(jnp.abs(x) * 2, 5, **kw))(f("one_hot")),
                "count_nonzero" + suffix: (lambda g: lambda x, *_: g(x, axis=-1, **kw))(f("count_nonzero")),
                "isin" + suffix: (lambda g: lambda x, *_: g(x, jnp.array([0.1, y]), **kw))(f("isin")),
                "allclose" + suffix: (
                    lambda g: lambda x, *_: jax.vmap(lambda row: g(row, row * 1.01, **kw))(x)
                )(f("allclose")),
                "array_equal" + suffix: (
                    lambda g: lambda x, *_: jax.vmap(lambda row: g(row, row[::-1], **kw))(x)
                )(f("array_equal")),
                "cummax" + suffix: (lambda g: lambda x, *_: g(x, axis=1, **kw))(f("cummax")),
                "cummin" + suffix: (lambda g: lambda x, *_: g(x, axis=1, reverse=True, **kw))(f("cummin")),
            }
        )

    def gt(x):
        return sj.greater(x, y, **kw)

    def lt(x):
        return sj.less(x, 1.0, **kw)

    ops.update(
        {
            "logical_and": lambda x, *_: sj.logical_and(gt(x), lt(x)),
            "logical_or": lambda x, *_: sj.logical_or(gt(x), lt(x), use_geometric_mean=True),
            "logical_xor": lambda x, *_: sj.logical_xor(gt(x), lt(x)),
            "logical_not": lambda x, *_: sj.logical_not(gt(x)),
            "all": lambda x, *_: sj.all(gt(x), axis=-1),
            "any": lambda x, *_: sj.any(gt(x), axis=-1),
            "where": lambda x, *_: sj.where(gt(x), x, -x),
            "select": lambda x, *_: sj.select([gt(x), lt(x)], [x, -x], 0.5),
            "random.bernoulli[row keys]": lambda x, keys, key: jax.vmap(
                lambda k, row: r.bernoulli(k, jax.nn.sigmoid(row), **kw)
            )(keys, x),
            "random.bernoulli_st[row keys]": lambda x, keys, key: jax.vmap(
                lambda k, row: r.bernoulli_st(k, jax.nn.sigmoid(row), **kw)
            )(keys, x),
            "random.binomial[row keys]": lambda x, keys, key: jax.vmap(
                lambda k, row: r.binomial(k, 4, jax.nn.sigmoid(row), **kw)
            )(keys, x),
            "random.binomial_st[row keys]": lambda x, keys, key: jax.vmap(
                lambda k, row: r.binomial_st(k, 4, jax.nn.sigmoid(row), **kw)
            )(keys, x),
            "random.rademacher[row keys]": lambda x, keys, key: (
                x * jax.vmap(lambda k: r.rademacher(k, (N,), jnp.float32, **kw))(keys)
            ),
            "random.rademacher_st[row keys]": lambda x, keys, key: (
                x * jax.vmap(lambda k: r.rademacher_st(k, (N,), jnp.float32, **kw))(keys)
            ),
            "random.bernoulli[shared key]": _shared_key(
                lambda key, x: r.bernoulli(key, jax.nn.sigmoid(x), **kw)
            ),
        }
    )
    if mode == "smooth":  # operators without a mode: once

        def soft_idx(x):
            return jax.nn.softmax(x / SOFTNESS, axis=-1)

        ops.update(
            {
                "take_along_axis": lambda x, *_: sj.take_along_axis(x, soft_idx(x)[:, None, :], axis=-1),
                "take": lambda x, *_: jax.vmap(lambda row, p: sj.take(row, p[None], axis=0))(x, soft_idx(x)),
                "choose": lambda x, *_: sj.choose(soft_idx(x), x.T),
                "dynamic_index_in_dim": lambda x, *_: jax.vmap(
                    lambda row, p: sj.dynamic_index_in_dim(row, p, 0)
                )(x, soft_idx(x)),
                "dynamic_slice_in_dim": lambda x, *_: jax.vmap(
                    lambda row, p: sj.dynamic_slice_in_dim(row, p, 3, 0)
                )(x, soft_idx(x)),
                "dynamic_slice": lambda x, *_: jax.vmap(lambda row, p: sj.dynamic_slice(row, [p], [3]))(
                    x, soft_idx(x)
                ),
                "dynamic_update_index_in_dim": lambda x, *_: jax.vmap(
                    lambda row, p: sj.dynamic_update_index_in_dim(row, row[:1] * 2, p, 0)
                )(x, soft_idx(x)),
                "dynamic_update_slice": lambda x, *_: jax.vmap(
                    lambda row, p: sj.dynamic_update_slice(row, row[:3] * 2, [p])
                )(x, soft_idx(x)),
                "put_along_axis": lambda x, *_: sj.put_along_axis(
                    x, soft_idx(x)[:, None, :], x[:, :1] * 2, -1
                ),
                "sqrt": lambda x, *_: sj.sqrt(jnp.abs(x)),
                "log": lambda x, *_: sj.log(jnp.abs(x) + 0.1),
                "arcsin": lambda x, *_: sj.arcsin(jnp.tanh(x)),
                "arccos": lambda x, *_: sj.arccos(jnp.tanh(x)),
                "div": lambda x, *_: sj.div(x, jnp.abs(x) + 1.0),
                "norm": lambda x, *_: sj.norm(x, axis=-1),
            }
        )
    return ops


# The elementwise relaxations of one family differ between modes only in the
# scalar formula, never in how data moves across devices: two modes (a smooth
# one and a piecewise one) in the default tier, all four in the full tier.
ELEMENTWISE_QUICK_MODES = ("smooth", "c1")


# The default (CI) tier: per (method, mode) one operator (argsort for the
# index methods, sort for the value-only ones); per mode the elementwise families.
# Compile time is the whole cost (about 0.2 s per operator and compile on two
# cores), so the thin wrappers (argmin = argmax of -x, median = quantile, ...)
# and the *_st variants run in the full tier (SOFTJAX_SHARDING_FULL=1).
def _quick_ops(method, mode):
    if method == "elementwise":
        return {
            f"{name}@{m}"
            for m in ELEMENTWISE_QUICK_MODES
            for name in (
                "sigmoidal",
                "clip",
                "round_st",
                "greater",
                "equal",
                "logical_and",
                "all",
                "where",
                "floor",
                "maximum",
                "mod",
                "hard_silu",
                "ptp",
                "random.bernoulli[row keys]",
                "random.bernoulli[shared key]",
                "take_along_axis",
                "choose",
                "dynamic_slice",
                "norm",
                "searchsorted",
                "histogram_st",
                "count_nonzero",
                "cummax",
                "select",
                "put_along_axis",
            )
        }
    names = {"argsort"} if method in RANDOM_METHODS else {"sort"}
    if method in TOP_K_MASK_METHODS:
        names |= {"top_k_mask", "top_k_mask[real k]", "top_k_mask[threshold, real k]"}
    if (method, mode) == ("softsort", "smooth"):
        names |= {"sort", "sort_st", "random.categorical[row keys]", "random.categorical[shared key]"}
    return names


def quick_modes(method):
    # OT: "smooth" (Sinkhorn) and "c1" (dual Newton) cover both solvers; the
    # other regularisers of the dual solver (c0, c2) run in the full tier.
    return ("smooth", "c1") if method == "ot" else MODES


def groups(full=False):
    """``(method, "all", {name@mode: op})``: one group per method holding every
    mode it supports (the elementwise families form one more group, ``method`` =
    ``"elementwise"``). Compile time is the whole cost, so fewer, larger groups
    are faster than one group per (method, mode)."""
    out = []
    for method in ALL_METHODS:
        ops = {}
        for mode in MODES if full else quick_modes(method):
            if not supports(method, mode):
                continue
            for name, op in axiswise_ops(method, mode).items():
                if full or name in _quick_ops(method, mode):
                    ops[f"{name}@{mode}"] = op
        out.append((method, "all", ops))
    elementwise = {f"{name}@{mode}": op for mode in MODES for name, op in elementwise_ops(mode).items()}
    if not full:
        elementwise = {k: v for k, v in elementwise.items() if k in _quick_ops("elementwise", None)}
    out.append(("elementwise", "all", elementwise))
    # SOFTJAX_SHARDING_OPS="random.,argmin": only operators whose name@mode
    # contains one of the substrings (targeted re-runs of the full tier).
    wanted = [w for w in os.environ.get("SOFTJAX_SHARDING_OPS", "").split(",") if w]
    if wanted:
        out = [(m, g, {k: v for k, v in ops.items() if any(w in k for w in wanted)}) for m, g, ops in out]
        out = [entry for entry in out if entry[2]]
    return out


# --- one grouped function per method ------------------------------------------------


def _weights(name, shape):
    """Fixed random cotangent (a plain sum has zero gradient for SoftIndex rows).

    Drawn for one row (``shape[1:]``) and broadcast over the batch, so that the
    per-shard function inside ``shard_map`` uses the same weights.
    """
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return jnp.asarray(rng.standard_normal(shape[1:]), jnp.float32)


def make_fn(ops, shared):
    def f(x, keys):
        key = jax.random.key(7) if shared else None

        def evaluate(xs):
            outs = {}
            for name, op in ops.items():
                out = op(xs[name], keys, key)
                if out is not None:
                    outs[name] = out
            return outs

        def loss(xs):
            outs = evaluate(xs)
            total = 0.0
            for name, out in outs.items():
                for i, leaf in enumerate(jax.tree.leaves(out)):
                    total = total + jnp.sum(_weights(f"{name}/{i}", leaf.shape) * leaf)
            return total, outs

        xs = dict.fromkeys(ops, x)
        grads, outs = jax.grad(loss, has_aux=True)(xs)
        grads = {name: g for name, g in grads.items() if name in outs}
        return outs, grads

    return f


# --- HLO inspection ----------------------------------------------------------------

_COLLECTIVE = re.compile(
    r"=\s*(.+?)\s+(all-gather|all-to-all|collective-permute|reduce-scatter|all-reduce)"
    r"(?:-start)?\("
)
_CALLBACK = re.compile(r'custom_call_target="([^"]*callback[^"]*)"', re.IGNORECASE)
_HOST = re.compile(r"\b(send|recv|infeed|outfeed)(?:-done)?\(")


_OP_NAME = re.compile(r'op_name="([^"]*)"')


def _where(line):
    """The JAX source of an HLO line (its op_name metadata), shortened."""
    match = _OP_NAME.search(line)
    return match.group(1).split("/", 1)[-1] if match else "?"


def inspect_hlo(text):
    """Collectives ``"kind shape @ op_name"`` and host callbacks in compiled HLO text."""
    collectives, callbacks, host = set(), set(), set()
    for line in text.splitlines():
        if m := _COLLECTIVE.search(line):
            collectives.add(f"{m.group(2)} {m.group(1).rstrip(',)')} @ {_where(line)}")
        if m := _CALLBACK.search(line):
            callbacks.add(f"{m.group(1)} @ {_where(line)}")
        if m := _HOST.search(line):
            host.add(f"{m.group(1)} @ {_where(line)}")
    return {
        "collectives": sorted(collectives),
        "callbacks": sorted(callbacks),
        "host_transfers": sorted(host),
    }


# --- checks ----------------------------------------------------------------------------


def _mismatch(got, ref):
    """Largest |got - ref| / (1e-6 * |ref| + atol); <= 1 passes. NaN-aware."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return float("inf")
    same_nan = np.isnan(got) & np.isnan(ref)
    # atol: values near 0 in float32 are only known to ~1e-6 of the array's scale.
    atol = 1e-6 * max(1.0, float(np.nanmax(np.abs(ref), initial=0.0)))
    err = np.abs(got - ref) / (1e-6 * np.abs(ref) + atol)
    err = np.where(same_nan, 0.0, np.where(np.isnan(err), np.inf, err))
    return float(np.max(err, initial=0.0))


def _batch_sharded(arr, mesh, batch):
    spec = P(batch, *([None] * (arr.ndim - 1)))
    return bool(arr.sharding.is_equivalent_to(NamedSharding(mesh, spec), arr.ndim))


def _typed_batch_sharding(arr, batch):
    """On explicit meshes the batch sharding is part of the output's type."""
    spec = tuple(jax.typeof(arr).sharding.spec)
    return bool(spec) and spec[0] == batch


def compare(outs, grads, ref_outs, ref_grads, mesh, stage, batch="data", typed=False):
    """Fill ``stage["max_err"]`` (per ``op/value`` and ``op/grad``) and ``not_batch_sharded``."""
    for kind, got_tree, ref_tree in (("value", outs, ref_outs), ("grad", grads, ref_grads)):
        for name, got in got_tree.items():
            ref_leaves = jax.tree.leaves(ref_tree[name])
            for i, leaf in enumerate(jax.tree.leaves(got)):
                key = f"{name}/{kind}" + (f"[{i}]" if i else "")
                stage["max_err"][key] = _mismatch(leaf, ref_leaves[i])
                if not _batch_sharded(leaf, mesh, batch) or (
                    typed and not _typed_batch_sharding(leaf, batch)
                ):
                    typed_spec = jax.typeof(leaf).sharding.spec
                    stage["not_batch_sharded"].append(
                        f"{key}: {leaf.sharding.spec} (type {typed_spec}) shape {leaf.shape}"
                    )


def _stage():
    return {"error": None, "max_err": {}, "not_batch_sharded": [], "hlo": None, "ops": []}


def _error(err):
    return f"{type(err).__name__}: {err}"[:1500]


# Stages, each against the single-device reference:
# * jit: Auto mesh axes (GSPMD propagation);
# * explicit_jit: jax.make_mesh's default (Explicit) axes, mesh set with jax.set_mesh;
# * shard_map: the per-shard function over the explicit mesh;
# * vmap_spmd: jax.vmap(..., spmd_axis_name="data") of the per-row function.
STAGES = ("jit", "explicit_jit", "shard_map", "vmap_spmd")


def _per_row(ops):
    """The group's function on one row, for vmap (shared-key draws left out)."""
    f = make_fn(ops, shared=False)

    def row(x_row, key_row):
        return jax.tree.map(lambda a: a[0], f(x_row[None], key_row[None]))

    return row


def run_stage(stage, compile_and_run, ref, mesh, typed):
    """Compile, record the HLO's collectives, run and compare with the reference."""
    try:
        compiled, args = compile_and_run()
        stage["hlo"] = inspect_hlo(compiled.as_text())
        outs, grads = compiled(*args)
        stage["ops"] = sorted(outs)
        compare(outs, grads, *ref, mesh, stage, typed=typed)
    except Exception as err:
        stage["error"] = _error(err)


def run_group(method, mode, ops, meshes, x_host, keys_host):
    """Single-device reference, then every stage of ``STAGES``; each reported apart."""
    auto, explicit = meshes
    dev0 = jax.devices()[0]
    report = {"method": method, "mode": mode, "ops": sorted(ops)}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f_full = make_fn(ops, shared=True)
        try:
            ref = jax.jit(f_full)(jax.device_put(x_host, dev0), jax.device_put(keys_host, dev0))
            report["single_error"] = None
        except Exception as err:  # reported; the test names the group
            report["single_error"] = _error(err)
            return report | {name: _stage() for name in STAGES} | {"warnings": []}

        def sharded(mesh):
            return (
                jax.device_put(x_host, NamedSharding(mesh, P("data", None))),
                jax.device_put(keys_host, NamedSharding(mesh, P("data"))),
            )

        def build(fn, mesh):
            def go():
                args = sharded(mesh)
                return jax.jit(fn).lower(*args).compile(), args

            return go

        report["jit"] = _stage()
        run_stage(report["jit"], build(f_full, auto), ref, auto, typed=False)
        with jax.set_mesh(explicit):
            report["explicit_jit"] = _stage()
            run_stage(report["explicit_jit"], build(f_full, explicit), ref, explicit, typed=True)
            report["shard_map"] = _stage()
            mapped = shard_map(
                make_fn(ops, shared=False),
                mesh=explicit,
                in_specs=(P("data", None), P("data")),
                out_specs=P("data"),
            )
            run_stage(report["shard_map"], build(mapped, explicit), ref, explicit, typed=True)
            report["vmap_spmd"] = _stage()
            vmapped = jax.vmap(_per_row(ops), spmd_axis_name="data")
            run_stage(report["vmap_spmd"], build(vmapped, explicit), ref, explicit, typed=True)
        jax.effects_barrier()
    report["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


# --- other meshes ---------------------------------------------------------------------

# (name, mesh shape, axis names, axis types, spec of x): batch over both axes of
# a 2-D mesh, over one of them, a mesh mixing Explicit and Auto axes, and the
# operator's own axis sharded (gathered once: correct, not free).
MESH_VARIANTS = (
    (
        "2d_both",
        (4, 2),
        ("data", "model"),
        (AxisType.Explicit, AxisType.Explicit),
        P(("data", "model"), None),
    ),
    ("2d_one", (4, 2), ("data", "model"), (AxisType.Explicit, AxisType.Explicit), P("data", None)),
    ("mixed", (4, 2), ("data", "model"), (AxisType.Explicit, AxisType.Auto), P("data", None)),
    ("operator_axis", (2,), ("data",), (AxisType.Explicit,), P(None, "data")),
)


VARIANT_METHODS = ("softsort", "fast_soft_sort", "ot")
VARIANT_METHODS_FULL = ALL_METHODS


def mesh_variants_check(method_groups, x_host, keys_host):
    """Every group of the default tier's smooth mode on each of ``MESH_VARIANTS``."""
    dev0 = jax.devices()[0]
    results = []
    for name, shape, names, types, spec in MESH_VARIANTS:
        mesh = jax.make_mesh(shape, names, axis_types=types, devices=jax.devices()[: int(np.prod(shape))])
        for method, ops in method_groups:
            f = make_fn(ops, shared=False)
            entry = {"variant": name, "method": method, "error": None, "max_err": {}, "out_specs": []}
            try:
                ref = jax.jit(f)(jax.device_put(x_host, dev0), jax.device_put(keys_host, dev0))
                with jax.set_mesh(mesh):
                    x = jax.device_put(x_host, NamedSharding(mesh, spec))
                    keys = jax.device_put(keys_host, NamedSharding(mesh, P(spec[0])))
                    compiled = jax.jit(f).lower(x, keys).compile()
                    entry["hlo"] = inspect_hlo(compiled.as_text())
                    outs, grads = compiled(x, keys)
                for kind, got_tree, ref_tree in (("value", outs, ref[0]), ("grad", grads, ref[1])):
                    for op, got in got_tree.items():
                        for i, leaf in enumerate(jax.tree.leaves(got)):
                            key = f"{op}/{kind}[{i}]"
                            entry["max_err"][key] = _mismatch(leaf, jax.tree.leaves(ref_tree[op])[i])
                            entry["out_specs"].append(str(tuple(jax.typeof(leaf).sharding.spec)))
            except Exception as err:
                entry["error"] = _error(err)
            results.append(entry)
    return results


# --- long rows ---------------------------------------------------------------------


LONG_N = 2048  # smooth_sort's float32 fast path starts here


# Paths that only long rows take: smooth_sort's float32 fast path, the PAV
# partitioning rule, softsort's sparse windows and neuralsort's banded A with
# windowed rows (each with a batch-wide fallback condition).
LONG_ROW_PATHS = (
    ("smooth_sort", "smooth"),
    ("fast_soft_sort", "smooth"),
    ("softsort", "c1"),
    ("neuralsort", "c2"),
)


def long_rows_check(meshes):
    """The long-row paths of :data:`LONG_ROW_PATHS` on rows of 2048, both axis types."""
    x_host = np.random.default_rng(5).standard_normal((BATCH, LONG_N)).astype(np.float32)
    weights = jnp.asarray(np.random.default_rng(6).standard_normal(LONG_N), jnp.float32)
    out = []
    for method, mode in LONG_ROW_PATHS:

        def f(x, method=method, mode=mode):
            def sort(v):
                return sj.sort(v, axis=-1, softness=0.1, method=method, mode=mode)

            value, grad = jax.value_and_grad(lambda v: jnp.sum(weights * sort(v)))(x)
            return value, grad, sort(x)

        ref = jax.jit(f)(jax.device_put(x_host, jax.devices()[0]))
        for kind, mesh in zip(("auto", "explicit"), meshes, strict=True):
            entry = {"method": method, "mode": mode, "axis_type": kind, "error": None, "max_err": {}}
            try:
                with jax.set_mesh(mesh):
                    x = jax.device_put(x_host, NamedSharding(mesh, P("data", None)))
                    compiled = jax.jit(f).lower(x).compile()
                    entry["hlo"] = inspect_hlo(compiled.as_text())
                    got = compiled(x)
                for name, g, r in zip(("loss", "grad", "sort"), got, ref, strict=True):
                    entry["max_err"][name] = _mismatch(g, r)
                entry["batch_sharded"] = _batch_sharded(got[2], mesh, "data")
            except Exception as err:
                entry["error"] = _error(err)
            out.append(entry)
    return out


# --- sharded training step -----------------------------------------------------------


def training_check(mesh):
    """Plain SGD on a sharded batch; loss built from sort, top_k and greater.

    The softness of sort and top_k is learned with the weights: a traced
    scalar that the per-device row computation has to take as an operand.
    """
    rng = np.random.default_rng(0)
    d = 4
    w_true = rng.standard_normal((d, N)).astype(np.float32)
    feats = rng.standard_normal((4 * BATCH, d)).astype(np.float32)
    scores_true = feats @ w_true
    target_sorted = np.sort(scores_true, axis=-1)
    target_top = -np.sort(-scores_true, axis=-1)[:, :2]
    target_pos = (scores_true > 0).astype(np.float32)

    data = NamedSharding(mesh, P("data", None))
    replicated = NamedSharding(mesh, P())
    batch = tuple(jax.device_put(a, data) for a in (feats, target_sorted, target_top, target_pos))
    params = {
        "w": jnp.zeros((d, N), jnp.float32) + 0.01 * jnp.eye(d, N),
        "log_softness": jnp.log(jnp.float32(0.1)),
    }
    params = jax.device_put(params, replicated)

    def loss_fn(params, feats, t_sorted, t_top, t_pos):
        s = feats @ params["w"]
        softness = jnp.exp(params["log_softness"])
        l_sort = jnp.mean((sj.sort(s, axis=-1, softness=softness) - t_sorted) ** 2)
        l_top = jnp.mean((sj.top_k(s, 2, softness=softness)[0] - t_top) ** 2)
        l_pos = jnp.mean((sj.greater(s, 0.0, softness=0.5) - t_pos) ** 2)
        return l_sort + l_top + l_pos

    @jax.jit
    def step(w, *batch):
        loss, g = jax.value_and_grad(loss_fn)(w, *batch)
        return jax.tree.map(lambda p, dp: p - 0.1 * dp, w, g), loss

    with jax.set_mesh(mesh):
        compiled = step.lower(params, *batch).compile()
        losses = []
        for _ in range(30):
            params, loss = compiled(params, *batch)
            losses.append(float(loss))
    return {
        "nan_rows_grad_err": _nan_rows_grad_err(mesh),
        "losses": [losses[0], losses[9], losses[-1]],
        "params_replicated": all(p.sharding.is_fully_replicated for p in jax.tree.leaves(params)),
        "softness": float(jnp.exp(params["log_softness"])),
        "hlo": inspect_hlo(compiled.as_text()),
    }


def _nan_rows_grad_err(mesh):
    """Relative error of a traced softness's gradient through ot's ``nanmax`` with NaN on one device only.

    The devices then take different branches of the NaN selection; the sum
    of the softness gradient over the devices must not sit inside them.
    """
    x_host = np.random.default_rng(7).standard_normal((BATCH, N)).astype(np.float32)
    x_host[0, 1] = np.nan

    def loss(x, s):
        return jnp.sum(sj.nanmax(x, axis=-1, softness=s, method="ot") ** 2)

    grad = jax.jit(jax.grad(loss, argnums=1))
    ref = float(grad(jnp.asarray(x_host), jnp.float32(0.3)))
    with jax.set_mesh(mesh):
        got = float(grad(jax.device_put(x_host, NamedSharding(mesh, P("data", None))), jnp.float32(0.3)))
    return abs(got - ref) / abs(ref)


SMOKE_METHODS = ("softsort", "elementwise")


# The parts of a report (``--parts=groups,variants``: only those; default all).
PARTS = ("groups", "variants", "training", "long_rows")


def merge_reports(reports):
    """One report from several runs over disjoint parts, methods or modes.

    Groups of the same method (one run per mode) merge into one: their
    operators, errors found per stage, HLO findings and warnings are pooled.
    """
    merged = {key: value for report in reports for key, value in report.items() if key != "groups"}
    merged["mesh_variants"] = [e for report in reports for e in report.get("mesh_variants", [])]
    by_method = {}
    for report in reports:
        for group in report["groups"]:
            if group["method"] not in by_method:
                by_method[group["method"]] = group
                continue
            into = by_method[group["method"]]
            into["ops"] = sorted(into["ops"] + group["ops"])
            into["single_error"] = into["single_error"] or group["single_error"]
            into["warnings"] = sorted(set(into["warnings"]) | set(group["warnings"]))
            into["seconds"] = into.get("seconds", 0) + group.get("seconds", 0)
            for name in STAGES:
                a, b = into[name], group[name]
                a["error"] = a["error"] or b["error"]
                a["ops"] = sorted(a.get("ops", []) + b.get("ops", []))
                a["max_err"] = {**a.get("max_err", {}), **b.get("max_err", {})}
                a["not_batch_sharded"] = a.get("not_batch_sharded", []) + b.get("not_batch_sharded", [])
                if a.get("hlo") is None or b.get("hlo") is None:
                    a["hlo"] = a.get("hlo") or b.get("hlo")
                else:
                    a["hlo"] = {k: a["hlo"][k] + b["hlo"][k] for k in a["hlo"]}
    order = [method for method, _, _ in groups(True)]
    merged["groups"] = sorted(by_method.values(), key=lambda g: order.index(g["method"]))
    return merged


def main():
    t0 = time.perf_counter()
    devices = jax.devices()
    assert len(devices) == 8, f"need 8 devices, got {devices} (XLA_FLAGS={os.environ.get('XLA_FLAGS')})"
    # Auto axes: the classic jit + NamedSharding (GSPMD) setting; Explicit: the
    # default of jax.make_mesh (sharding in the types).
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,), devices=devices)
    explicit = jax.make_mesh((8,), ("data",), devices=devices)
    rng = np.random.default_rng(1)
    x_host = rng.standard_normal((BATCH, N)).astype(np.float32)
    x_host[0, :2] = 0.25  # a tie
    keys_host = jax.random.split(jax.random.key(3), BATCH)
    full = (
        os.environ.get("SOFTJAX_SHARDING_FULL") == "1" or os.environ.get("SOFTJAX_TEST_TIER") == "exhaustive"
    )
    if "--smoke" in sys.argv[1:]:
        # The fast test tier: one method's smooth ops and the elementwise
        # group, every stage, on both axis types; nothing else.
        selected = [
            (method, mode, {k: v for k, v in ops.items() if k.endswith("@smooth")})
            for method, mode, ops in groups(False)
            if method in SMOKE_METHODS
        ]
        results = [
            run_group(method, mode, ops, (mesh, explicit), x_host, keys_host)
            for method, mode, ops in selected
        ]
        print(json.dumps({"tier": "smoke", "groups": results, "seconds": round(time.perf_counter() - t0, 2)}))
        return
    parts = set(PARTS)
    only = set()
    for arg in sys.argv[1:]:
        if arg.startswith("--parts="):
            parts = set(arg.removeprefix("--parts=").split(","))
            assert parts <= set(PARTS), f"--parts: choose from {PARTS}, got {sorted(parts)}"
        else:
            only.add(arg)
    selected = [(method, mode, ops) for method, mode, ops in groups(full) if not only or method in only]
    results = []
    for method, mode, ops in selected if "groups" in parts else ():
        results.append(run_group(method, mode, ops, (mesh, explicit), x_host, keys_host))
        # Progress on stderr (a long full-tier run that is stopped keeps what it found).
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    # Other meshes: every method in the full tier; in the default tier the
    # methods with a custom_partitioning rule (fast_soft_sort), a host
    # callback (ot) and a chunked fused kernel (softsort).
    variant_methods = VARIANT_METHODS_FULL if full else VARIANT_METHODS
    smooth = [
        (method, {k: v for k, v in ops.items() if k.endswith("@smooth") and "[shared key]" not in k})
        for method, _, ops in selected
        if method in variant_methods
    ]
    report = {
        "tier": "full" if full else "quick",
        "jax": jax.__version__,
        "shard_map": f"{shard_map.__module__}.{shard_map.__name__}",
        "groups": results,
    }
    if "variants" in parts:
        report["mesh_variants"] = mesh_variants_check([g for g in smooth if g[1]], x_host, keys_host)
    if "training" in parts:
        report["training"] = training_check(mesh)
        report["training_explicit"] = training_check(explicit)
    if "long_rows" in parts:
        report["long_rows"] = long_rows_check((mesh, explicit))
    report["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
