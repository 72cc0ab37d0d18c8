"""Hostile-input sweep behind the numerical guarantees.

Every public operator x method x mode is run on rows built to break soft
relaxations (ties, constant rows, sorted and reversed rows, mixed magnitudes,
magnitudes from 1e-30 to 0.9 x the dtype's maximum) at softness from 1e-6 to
1e3, in float32, bfloat16 and float64. On every case whose hard result is
finite, the soft value and the gradient of a weighted sum of the outputs must
be finite, SoftBool outputs must lie in [0, 1] and SoftIndex rows on the
simplex. A case that emits a warning is recorded as warned: a method that
cannot meet the guarantees in some regime says so instead of returning NaN.

One compiled function per (operator, method, mode, dtype, n) evaluates all rows
and softness values at once (``vmap`` over both, softness traced), so the sweep
is bounded by compile time, not by the number of rows.

``python tests/finiteness_cases.py [--n 1 2 5 33] [--dtypes float32 ...]``
prints the number of cases run and the failures per family.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import softjax as sj
from axiswise_cases import ALL_METHODS, ALL_OPS, INDEX_OPS, supports
from softjax._src import topk_mask
from softjax._src.methods import registry

SOFT_MODES = ("smooth", "c0", "c1", "c2")
SOFTNESS = (1e-6, 1e-2, 0.1, 1.0, 1e3)
DTYPES = ("float32", "bfloat16", "float64")
ROW_LENGTHS = (1, 2, 5, 33, 1024)
_KEY = jax.random.key(0)


@dataclasses.dataclass(frozen=True)
class Case:
    """One public operator under one method and mode.

    ``fn(x, softness)`` returns an array (or a tuple of arrays); ``kind`` says
    what its first output is: ``"value"``, ``"bool"`` (SoftBool in [0, 1]) or
    ``"index"`` (SoftIndex rows on the simplex). ``domain`` is the input the
    operator reads: real rows, or probabilities for logic and samplers.
    ``hard(x)`` evaluates the hard operator, to skip rows whose hard result is
    not finite (the guarantee does not apply there).
    """

    family: str
    name: str
    method: str | None
    mode: str
    fn: Callable[[jax.Array, jax.Array], Any]
    kind: str = "value"
    domain: str = "real"
    hard: Callable[[jax.Array], Any] | None = None

    @property
    def label(self) -> str:
        return "/".join(p for p in (self.family, self.name, self.method, self.mode) if p)


def _elementwise() -> list[Case]:
    unary: dict[str, tuple[Callable[..., Any], str]] = {
        "heaviside": (lambda x, s, m: sj.heaviside(x, s, m), "bool"),
        "sign": (lambda x, s, m: sj.sign(x, s, m), "value"),
        "abs": (lambda x, s, m: sj.abs(x, s, m), "value"),
        "relu": (lambda x, s, m: sj.relu(x, s, m), "value"),
        "relu_gated": (lambda x, s, m: sj.relu(x, s, m, True), "value"),
        "clip": (lambda x, s, m: sj.clip(x, -1.0, 1.0, s, m), "value"),
        "clip_wide": (lambda x, s, m: sj.clip(x, -x[::-1], x[::-1], s, m), "value"),
        "round": (lambda x, s, m: sj.round(x, s, m), "value"),
        "sigmoidal": (lambda x, s, m: sj.sigmoidal(x, s, m), "bool"),
        "softrelu": (lambda x, s, m: sj.softrelu(x, s, m), "value"),
        "abs_st": (lambda x, s, m: sj.abs_st(x, s, m), "value"),
        "relu_st": (lambda x, s, m: sj.relu_st(x, s, m), "value"),
        "round_st": (lambda x, s, m: sj.round_st(x, s, m), "value"),
        "sign_st": (lambda x, s, m: sj.sign_st(x, s, m), "value"),
        "heaviside_st": (lambda x, s, m: sj.heaviside_st(x, s, m), "bool"),
        "clip_st": (lambda x, s, m: sj.clip_st(x, -1.0, 1.0, s, m), "value"),
    }
    binary = {
        name: getattr(sj, name)
        for name in (
            "greater",
            "greater_equal",
            "less",
            "less_equal",
            "equal",
            "not_equal",
            "isclose",
            "greater_st",
            "less_st",
            "equal_st",
            "isclose_st",
        )
    }
    cases = []
    for mode in SOFT_MODES:
        for name, (f, kind) in unary.items():
            cases.append(Case("elementwise", name, None, mode, lambda x, s, f=f, m=mode: f(x, s, m), kind))
        for name, f in binary.items():
            # y is the reversed row: differences span every magnitude in it.
            cases.append(
                Case(
                    "comparison",
                    name,
                    None,
                    mode,
                    lambda x, s, f=f, m=mode: f(x, x[::-1], softness=s, mode=m),
                    "bool",
                    hard=lambda x, f=f: f(x, x[::-1], mode="hard"),
                )
            )
    return cases


def _rounding_and_activations() -> list[Case]:
    """floor / ceil / trunc, division by constants, maximum / minimum, the jax.nn activations.

    Each operator and its straight-through twin (same arguments).
    """
    # The divisor is a constant: with y from the row, d/dy floor_divide is
    # -x D'(f) / y**2, which really exceeds the dtype's range for divisors
    # near 1e-30 (and x / y itself overflows for a large x). Where the
    # quotient by -0.75 overflows near the maximum the hard floor_divide is
    # inf (excused); the remainder stays finite there.
    calls: dict[str, tuple[Callable[..., Any], Callable[[jax.Array], Any] | None]] = {
        "floor": (lambda f, x, s, m: f(x, softness=s, mode=m), None),
        "ceil": (lambda f, x, s, m: f(x, softness=s, mode=m), None),
        "trunc": (lambda f, x, s, m: f(x, softness=s, mode=m), None),
        "relu6": (lambda f, x, s, m: f(x, softness=s, mode=m), None),
        "hard_tanh": (lambda f, x, s, m: f(x, softness=s, mode=m), None),
        "hard_sigmoid": (lambda f, x, s, m: f(x, softness=s, mode=m), None),
        "hard_silu": (lambda f, x, s, m: f(x, softness=s, mode=m), None),
        "floor_divide": (
            lambda f, x, s, m: f(x, -0.75, softness=s, mode=m),
            lambda x: sj.floor_divide(x, -0.75, mode="hard"),
        ),
        "mod": (lambda f, x, s, m: f(x, -0.75, softness=s, mode=m), None),
        "remainder": (lambda f, x, s, m: f(x, 1.5, softness=s, mode=m), None),
        # y is the reversed row: differences span every magnitude in it.
        "maximum": (lambda f, x, s, m: f(x, x[::-1], softness=s, mode=m), None),
        "minimum": (lambda f, x, s, m: f(x, x[::-1], softness=s, mode=m), None),
    }
    cases = []
    for mode in SOFT_MODES:
        for name, (call, hard) in calls.items():
            for op_name in (name, f"{name}_st"):
                op = getattr(sj, op_name)
                cases.append(
                    Case(
                        "elementwise",
                        op_name,
                        None,
                        mode,
                        lambda x, s, c=call, f=op, m=mode: c(f, x, s, m),
                        hard=hard,
                    )
                )
    return cases


def _condition(n: int, dtype: Any) -> jax.Array:
    return jnp.resize(jnp.asarray([0.0, 1.0, 0.5, 1e-30, 1 - 1e-7], dtype), (n,))


def _logic_and_selection() -> list[Case]:
    cases = []
    for geo in (False, True):
        tag = "_geometric" if geo else ""
        for name in ("logical_and", "logical_or", "logical_xor"):
            f = getattr(sj, name)
            cases.append(
                Case(
                    "logic",
                    name + tag,
                    None,
                    "-",
                    lambda p, s, f=f, g=geo: f(p, p[::-1], use_geometric_mean=g),
                    "bool",
                    "prob",
                )
            )
        for name in ("all", "any"):
            f = getattr(sj, name)
            cases.append(
                Case(
                    "logic",
                    name + tag,
                    None,
                    "-",
                    lambda p, s, f=f, g=geo: f(p, use_geometric_mean=g),
                    "bool",
                    "prob",
                )
            )
    cases.append(Case("logic", "logical_not", None, "-", lambda p, s: sj.logical_not(p), "bool", "prob"))
    for mode in SOFT_MODES:
        # A condition that does not depend on x (with exact 0s and 1s): with
        # c = greater(x, 0), d/dx = (x - y) S'(x) / s really overflows for
        # x - y near the dtype's maximum and softness 1e-6.
        cases.append(
            Case(
                "selection",
                "where",
                None,
                mode,
                lambda x, s, m=mode: sj.where(_condition(x.shape[-1], x.dtype), x, x[::-1] / 2),
            )
        )
        cases.append(
            Case(
                "selection",
                "take_along_axis",
                "softsort",
                mode,
                lambda x, s, m=mode: sj.take_along_axis(
                    x, sj.argsort(x, softness=s, mode=m, method="softsort"), axis=-1
                ),
            )
        )
        cases.append(
            Case(
                "selection",
                "dynamic_index_in_dim",
                "softsort",
                mode,
                lambda x, s, m=mode: sj.dynamic_index_in_dim(
                    x, sj.argmax(x, softness=s, mode=m, method="softsort"), keepdims=False
                ),
            )
        )
    return cases


def _axiswise() -> list[Case]:
    cases = []
    for name, (f, methods) in ALL_OPS.items():
        kind = "index" if name in INDEX_OPS else "value"
        for method in methods:
            for mode in SOFT_MODES:
                if not supports(method, mode):
                    continue
                cases.append(
                    Case(
                        "axiswise",
                        name,
                        method,
                        mode,
                        lambda x, s, f=f, me=method, mo=mode: f(x, softness=s, mode=mo, method=me),
                        kind,
                        hard=lambda x, f=f: f(x, mode="hard"),
                    )
                )
                if registry.METHODS[method].standardizes:  # else it always works on raw values
                    cases.append(
                        Case(
                            "axiswise",
                            f"{name}_raw",
                            method,
                            mode,
                            lambda x, s, f=f, me=method, mo=mode: f(
                                x, softness=s, mode=mo, method=me, standardize=False
                            ),
                            kind,
                            hard=lambda x, f=f: f(x, mode="hard"),
                        )
                    )
    for method in topk_mask.methods():
        for mode in SOFT_MODES:
            for suffix, standardize in (("", True), ("_raw", False)):
                cases.append(
                    Case(
                        "axiswise",
                        f"top_k_mask{suffix}",
                        method,
                        mode,
                        lambda x, s, me=method, mo=mode, st=standardize: sj.top_k_mask(
                            x, min(2, x.shape[-1]), softness=s, mode=mo, method=me, standardize=st
                        ),
                        "bool",
                        hard=lambda x: sj.top_k_mask(x, min(2, x.shape[-1]), mode="hard"),
                    )
                )
    # ptp (soft max - soft min) takes every method of max; its hard range
    # overflows for rows reaching +-0.9 x max (excused by the hard value).
    for method in ALL_METHODS:
        for mode in SOFT_MODES:
            if not supports(method, mode):
                continue
            for suffix, standardize in (("", True), ("_raw", False)):
                if standardize or registry.METHODS[method].standardizes:
                    cases.append(
                        Case(
                            "axiswise",
                            f"ptp{suffix}",
                            method,
                            mode,
                            lambda x, s, me=method, mo=mode, st=standardize: sj.ptp(
                                x, softness=s, mode=mo, method=me, standardize=st
                            ),
                            hard=lambda x: sj.ptp(x, mode="hard"),
                        )
                    )
    st_ops = {
        "sort_st": lambda x, **kw: sj.sort_st(x, **kw),
        "rank_st": lambda x, **kw: sj.rank_st(x, **kw),
        "max_st": lambda x, **kw: sj.max_st(x, **kw),
        "argmax_st": lambda x, **kw: sj.argmax_st(x, **kw),
        "quantile_st": lambda x, **kw: sj.quantile_st(x, 0.3, **kw),
        "top_k_st": lambda x, **kw: sj.top_k_st(x, min(2, x.shape[-1]), **kw)[0],
        "ptp_st": lambda x, **kw: sj.ptp_st(x, **kw),
    }
    cases.extend(
        Case(
            "straight_through",
            name,
            "softsort",
            mode,
            lambda x, s, f=f, mo=mode: f(x, softness=s, mode=mo, method="softsort"),
            "index" if name.startswith("arg") else "value",
            hard=(lambda x: sj.ptp(x, mode="hard")) if name == "ptp_st" else None,
        )
        for name, f in st_ops.items()
        for mode in SOFT_MODES
    )
    return cases


def _top_k_large() -> list[Case]:
    """``top_k`` values with ``k = n // 2``: from ``k >= 16`` softsort and neuralsort
    read them off their near-linear sort."""
    k = lambda x: max(1, x.shape[-1] // 2)
    return [
        Case(
            "top_k_large",
            "top_k_values_half",
            method,
            mode,
            lambda x, s, me=method, mo=mode: sj.top_k(x, k(x), softness=s, mode=mo, method=me)[0],
            hard=lambda x: sj.top_k(x, k(x), mode="hard")[0],
        )
        for method in ("softsort", "neuralsort")
        for mode in SOFT_MODES
    ]


def _random() -> list[Case]:
    cases = []
    for mode in SOFT_MODES:
        cases += [
            Case(
                "random",
                "bernoulli",
                None,
                mode,
                lambda p, s, m=mode: sj.random.bernoulli(_KEY, p, softness=s, mode=m),
                "bool",
                "prob",
            ),
            Case(
                "random",
                "binomial",
                None,
                mode,
                lambda p, s, m=mode: sj.random.binomial(_KEY, 3, p, softness=s, mode=m),
                "value",
                "prob",
            ),
            Case(
                "random",
                "bernoulli_st",
                None,
                mode,
                lambda p, s, m=mode: sj.random.bernoulli_st(_KEY, p, softness=s, mode=m),
                "bool",
                "prob",
            ),
        ]
        for method in ("softsort", "neuralsort", "ot"):
            cases += [
                Case(
                    "random",
                    "categorical",
                    method,
                    mode,
                    lambda x, s, m=mode, me=method: sj.random.categorical(
                        _KEY, x, softness=s, mode=m, method=me
                    ),
                    "index",
                ),
                Case(
                    "random",
                    "choice",
                    method,
                    mode,
                    lambda p, s, m=mode, me=method: sj.random.choice(
                        _KEY, jnp.arange(p.shape[-1], dtype=p.dtype), p=p, softness=s, mode=m, method=me
                    ),
                    "value",
                    "prob",
                ),
            ]
    return cases


def _binning() -> list[Case]:
    """searchsorted / digitize / histogram / bincount / one_hot and their ``_st`` twins.

    The sorted array is the sorted row (``searchsorted_window``: the row
    tiled past 64 elements, the windowed path); queries are the reversed row.
    ``histogram_auto`` takes its edges from the row's range, which overflows
    for rows reaching +-0.9 x max (the hard edges are then not finite: excused).
    """

    def tiled(x: jax.Array) -> jax.Array:
        return jnp.sort(jnp.tile(x, 65 // x.shape[-1] + 1))

    calls: dict[str, tuple[Callable[..., Any], str]] = {
        "searchsorted": (lambda f, x, **kw: f(jnp.sort(x), x[::-1], **kw), "value"),
        "searchsorted_right": (lambda f, x, **kw: f(jnp.sort(x), x[::-1], "right", **kw), "value"),
        "searchsorted_window": (lambda f, x, **kw: f(tiled(x), x[::-1], **kw), "value"),
        "digitize": (lambda f, x, **kw: f(x, jnp.sort(x)[::-1], True, **kw), "value"),
        "histogram": (lambda f, x, **kw: f(x, 4, (-1.0, 1.0), **kw)[0], "value"),
        "histogram_edges": (lambda f, x, **kw: f(x, jnp.sort(x), weights=jnp.cos(x), **kw)[0], "value"),
        "histogram_auto": (lambda f, x, **kw: f(x, 3, **kw)[0], "value"),
        "bincount": (lambda f, x, **kw: f(x, length=4, **kw), "value"),
        "bincount_weighted": (
            lambda f, x, **kw: f(x, jnp.linspace(0.0, 1.0, x.shape[-1], dtype=x.dtype), length=4, **kw),
            "value",
        ),
        "one_hot": (lambda f, x, **kw: f(x, 4, **kw), "index"),
    }
    cases = []
    for mode in SOFT_MODES:
        for name, (call, kind) in calls.items():
            base = name.split("_")[0] if not name.startswith("one_hot") else "one_hot"
            hard_op = getattr(sj, base)
            for op_name in (base, f"{base}_st"):
                op = getattr(sj, op_name)
                cases.append(
                    Case(
                        "binning",
                        name + op_name[len(base) :],
                        None,
                        mode,
                        lambda x, s, c=call, f=op, m=mode: c(f, x, softness=s, mode=m),
                        # one_hot_st is the hard row (all zeros out of range): not a SoftIndex
                        "value" if op_name == "one_hot_st" else kind,
                        hard=lambda x, c=call, f=hard_op: c(f, x, mode="hard"),
                    )
                )
    return cases


def _counting_cumulative_and_writes() -> list[Case]:
    """count_nonzero / isin / allclose / array_equal, cummax / cummin and their ``_st`` twins.

    Also the soft writes at a soft position taken from the row (``sj.argmax``).
    """
    calls: dict[str, tuple[Callable[..., Any], str]] = {
        "count_nonzero": (lambda f, x, **kw: f(x, **kw), "value"),
        "isin": (lambda f, x, **kw: f(x, x[::-1], **kw), "bool"),
        "allclose": (lambda f, x, **kw: f(x, x[::-1], **kw), "bool"),
        "array_equal": (lambda f, x, **kw: f(x, x[::-1], **kw), "bool"),
        "cummax": (lambda f, x, **kw: f(x, **kw), "value"),
        "cummin": (lambda f, x, **kw: f(x, reverse=True, **kw), "value"),
    }
    cases = []
    for mode in SOFT_MODES:
        for name, (call, kind) in calls.items():
            hard_op = getattr(sj, name)
            for op in (hard_op, getattr(sj, f"{name}_st")):
                cases.append(  # noqa: PERF401 - one case per operator, built from two lambdas
                    Case(
                        "counting",
                        op.__name__,
                        None,
                        mode,
                        lambda x, s, c=call, f=op, m=mode: c(f, x, softness=s, mode=m),
                        "value" if op is not hard_op else kind,
                        hard=lambda x, c=call, f=hard_op: c(f, x, mode="hard"),
                    )
                )

        def soft_position(x: jax.Array, s: jax.Array, m: str = mode) -> jax.Array:
            return sj.argmax(x, softness=s, mode=m)

        # Operand and update are halved, as for sj.where: the derivative with
        # respect to the soft position is their difference, which must not
        # overflow for rows reaching 0.9 x max.
        writes: dict[str, Callable[[jax.Array, jax.Array], Any]] = {
            "put_along_axis": lambda x, s, p=soft_position: sj.put_along_axis(
                x / 2, p(x, s)[None], x[:1] / 2, -1
            ),
            "dynamic_update_index_in_dim": lambda x, s, p=soft_position: sj.dynamic_update_index_in_dim(
                x / 2, x[:1][::-1] / 2, p(x, s), 0
            ),
            "dynamic_update_slice": lambda x, s, p=soft_position: sj.dynamic_update_slice(
                x / 2, x[-1:] / -2, [p(x[::-1], s)]
            ),
        }
        cases += [Case("writes", name, None, mode, fn) for name, fn in writes.items()]
    return cases


def all_cases() -> list[Case]:
    return (
        _elementwise()
        + _rounding_and_activations()
        + _logic_and_selection()
        + _axiswise()
        + _random()
        + _binning()
        + _counting_cumulative_and_writes()
        + _top_k_large()
    )


def hostile_rows(n: int, dtype: str, seed: int = 0) -> np.ndarray:
    """Float64 rows of length ``n`` that are representable in ``dtype``'s range."""
    rng = np.random.default_rng(seed)
    top = 0.9 * float(jnp.finfo(dtype).max)
    normal = rng.standard_normal(n)
    shapes = [
        normal,
        np.sort(normal),
        np.sort(normal)[::-1],
        np.round(normal * 2) / 2,  # ties
        np.ones(n),  # constant row
        np.where(np.arange(n) % 2 == 0, 1.0, -1.0),
        np.sign(normal) * np.logspace(-3, 6, n),  # mixed magnitudes
    ]
    rows = [r * scale for r in shapes for scale in (1e-30, 1e-6, 1.0, 1e6, 1e20)]
    rows.append(np.sign(normal) * top)  # +-0.9 max, ties at the extremes
    rows.append(np.linspace(-1.0, 1.0, n) * top)
    rows.append(shapes[0] / np.max(np.abs(shapes[0])) * top)
    rows.append(np.sign(normal) * np.geomspace(1e-30, top, n))
    return np.stack(rows)


def probability_rows(n: int, seed: int = 0) -> np.ndarray:
    """Rows in [0, 1] with exact 0s and 1s, tiny and near-1 entries, and ties."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=n)
    rows = [
        u,
        np.zeros(n),
        np.ones(n),
        np.where(u > 0.5, 1.0, 0.0),
        np.full(n, 1e-30),
        np.full(n, 1 - 1e-7),
        np.geomspace(1e-30, 1.0, n),
        np.full(n, 0.5),
    ]
    return np.stack(rows)


def _leaves(out: Any) -> list[jax.Array]:
    return [leaf for leaf in jax.tree_util.tree_leaves(out) if leaf is not None]


def _weighted_sum(out: Any) -> jax.Array:
    total = jnp.zeros((), jnp.float32)
    for k, leaf in enumerate(_leaves(out)):
        w = jnp.cos(jnp.arange(leaf.size, dtype=jnp.float32) + k).reshape(leaf.shape)
        total = total + jnp.sum(w * leaf.astype(jnp.float32))
    return total


@dataclasses.dataclass
class Outcome:
    case: Case
    dtype: str
    n: int
    cases_run: int
    failures: list[str]
    warned: list[str]


def run(case: Case, dtype: str, n: int, softness: Sequence[float] = SOFTNESS) -> Outcome:
    """Evaluate ``case`` on every hostile row of length ``n`` at every softness."""
    rows = probability_rows(n) if case.domain == "prob" else hostile_rows(n, dtype)
    x = jnp.asarray(np.repeat(rows, len(softness), axis=0), dtype)
    s = jnp.asarray(np.tile(np.asarray(softness), len(rows)), jnp.float32 if dtype == "bfloat16" else dtype)

    def one(xi: jax.Array, si: jax.Array) -> tuple[Any, jax.Array]:
        _out, grad = jax.value_and_grad(lambda v: _weighted_sum(case.fn(v, si)))(xi)
        return case.fn(xi, si), grad

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs, grads = jax.jit(jax.vmap(one))(x, s)
        outs, grads = jax.device_get((outs, grads))
        hard_ok = np.ones(len(x), bool)
        if case.hard is not None:
            hard = jax.device_get(jax.vmap(case.hard)(x))
            for leaf in _leaves(hard):
                arr = np.asarray(leaf, np.float64)
                hard_ok &= np.isfinite(arr.reshape(len(x), -1)).all(-1)
    warned = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    failures: list[str] = []
    first = _leaves(outs)[0]
    checks = {
        "value": [np.asarray(leaf, np.float64) for leaf in _leaves(outs)],
        "grad": [np.asarray(grads, np.float64)],
    }
    for what, arrays in checks.items():
        for arr in arrays:
            bad = ~np.isfinite(arr.reshape(len(x), -1)).all(-1) & hard_ok
            failures += [
                f"non-finite {what} row={i // len(softness)} s={softness[i % len(softness)]:g}"
                for i in np.flatnonzero(bad)
            ]
    arr = np.asarray(first, np.float64).reshape(len(x), *np.shape(first)[1:])
    if case.kind == "bool":
        bad = ((arr < 0) | (arr > 1)).reshape(len(x), -1).any(-1) & hard_ok
        failures += [f"SoftBool outside [0, 1] row={i // len(softness)}" for i in np.flatnonzero(bad)]
    if case.kind == "index":
        tol = {"bfloat16": 2**-6, "float32": 1e-5, "float64": 1e-10}[dtype] * max(1, np.log2(n))
        row_sums = arr.sum(-1)
        bad = ((np.abs(row_sums - 1) > tol) | (arr < 0).any(-1)).reshape(len(x), -1).any(-1) & hard_ok
        failures += [
            f"SoftIndex off the simplex row={i // len(softness)} "
            f"s={softness[i % len(softness)]:g} sum={row_sums.reshape(len(x), -1)[i].min():.4g}"
            for i in np.flatnonzero(bad)
        ]
    if warned:
        # A method that warns has said it cannot meet the guarantee here: range
        # and simplex violations become documented exceptions. Non-finite
        # output never is.
        excused = [f for f in failures if not f.startswith("non-finite")]
        failures = [f for f in failures if f.startswith("non-finite")]
        warned = [*warned, f"{len(excused)} excused: {excused[:2]}"] if excused else warned
    return Outcome(case, dtype, n, int(hard_ok.sum()), failures, warned)


def applicable(case: Case, dtype: str, n: int) -> bool:
    """Row lengths and dtypes a case is swept at (1024 only for the axis-wise families)."""
    return not (n >= 1024 and case.family not in ("axiswise", "top_k_large"))


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import collections
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 5, 33])
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES))
    parser.add_argument("--family", nargs="*", default=None)
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--names", nargs="*", default=None)
    parser.add_argument("--modes", nargs="*", default=None)
    args = parser.parse_args(argv)
    if "float64" in args.dtypes:
        jax.config.update("jax_enable_x64", True)
    totals: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    start = time.perf_counter()
    for case in all_cases():
        if args.family and case.family not in args.family:
            continue
        if args.methods and case.method not in args.methods:
            continue
        if args.names and case.name not in args.names:
            continue
        if args.modes and case.mode not in args.modes:
            continue
        for dtype in args.dtypes:
            for n in args.n:
                if not applicable(case, dtype, n):
                    continue
                out = run(case, dtype, n)
                t = totals[case.family]
                t[0] += out.cases_run
                t[1] += len(out.failures)
                t[2] += bool(out.warned)
                if out.failures:
                    print(
                        f"FAIL {case.label} {dtype} n={n}: {len(out.failures)}: {out.failures[:3]}",
                        flush=True,
                    )
                if out.warned:
                    print(f"WARN {case.label} {dtype} n={n}: {out.warned}", flush=True)
    print(f"{'family':18} {'row-cases':>10} {'failures':>9} {'warned':>7}")
    for fam, (runs, fails, warned) in totals.items():
        print(f"{fam:18} {runs:10d} {fails:9d} {warned:7d}")
    print(
        f"total {sum(t[0] for t in totals.values())} row-cases, "
        f"{sum(t[1] for t in totals.values())} failures, {time.perf_counter() - start:.0f} s"
    )
    return int(any(t[1] for t in totals.values()))


if __name__ == "__main__":
    raise SystemExit(main())
