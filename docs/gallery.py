"""Generate the documentation's plot gallery (matplotlib, Agg, PNG).

Run from anywhere: ``python docs/gallery.py``. Writes into ``docs/generated/``
(git-ignored):

* ``gallery/<name>.png`` -- elementwise and comparison operators across modes
  and two softness values; the ``sigmoidal``/``softrelu`` families; soft
  ``sort``/``rank``/``max``/``median`` of ``[x, 0, 1, 2]`` as ``x`` moves, for
  every method; every figure shows values beside derivatives;
* ``methods/accuracy.png`` and ``methods/timing.png`` -- accuracy versus
  softness and a quick timing of every ``sort`` method on this machine;
* ``methods/harness.md`` -- a snippet that embeds the benchmark harness's plots
  when ``benchmarks/results/plots/`` (or ``benchmarks/plots/``) holds them;
* ``gallery/.stamp``, ``methods/.stamp`` -- written when a part is complete
  (``--if-missing`` skips complete parts).

``--part plots`` / ``--part methods`` generate one half (``docs/build.sh`` runs
the halves in parallel).

Everything runs in float32 (JAX's default); derivatives are forward-mode
(``jax.jvp``) over a ``vmap``-ed grid. Elementwise curves run eagerly (their
primitives are compiled once and shared); each axis-wise method is one ``jit``
compiled with cheap XLA options, since compile time, not run time, dominates
here. The quick timing is compiled normally.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import softjax as sj

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "generated"
GALLERY = OUT / "gallery"
METHODS_DIR = OUT / "methods"

# Cheap XLA compilation for plotting (the grids are tiny; compile time dominates).
FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}

MODES = ("smooth", "c0", "c1", "c2")
MODE_STYLE = {
    "smooth": dict(color="C0"),
    "c0": dict(color="C1"),
    "c1": dict(color="C2"),
    "c2": dict(color="C3"),
    "_c1_pnorm": dict(color="C2", ls="--"),
    "_c2_pnorm": dict(color="C3", ls="--"),
}
HARD_STYLE = dict(color="k", ls=":", lw=1.2)
SOFTNESSES = (0.1, 0.3)
METHODS = ("neuralsort", "softsort", "sorting_network", "fast_soft_sort", "smooth_sort", "ot")

plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "axes.titlesize": 9, "legend.fontsize": 8})


def _label(mode: str) -> str:
    # matplotlib's legend skips labels that start with "_": quote the private modes.
    return repr(mode) if mode.startswith("_") else mode


def _compile(fn, *args):
    """``jit(fn)`` compiled with the cheap options, called on ``args``; numpy result."""
    compiled = jax.jit(fn).lower(*args).compile(FAST)
    return jax.tree_util.tree_map(np.asarray, compiled(*args))


def _eager(fn, *args):
    """``fn(*args)`` without ``jit``, numpy result.

    Elementwise curves are a few primitives each; run op by op, JAX compiles
    each primitive once for the grid's shape and reuses it across operators,
    which is much cheaper than one ``jit`` per operator.
    """
    return jax.tree_util.tree_map(np.asarray, fn(*args))


def _value_and_derivative(f):
    """``x -> (f(x), df/dx)`` for scalar ``x``: one forward-mode pass (``jax.jvp``)."""

    def both(x):
        return jax.jvp(f, (x,), (jnp.ones_like(x),))

    return both


def _save(fig, path: Path, **margins: float) -> None:
    # Fixed margins instead of tight_layout(), which costs one extra full draw.
    adjust = dict(left=0.07, right=0.98, bottom=0.1, top=0.92, wspace=0.22, hspace=0.3)
    fig.subplots_adjust(**{**adjust, **margins})
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------ elementwise


_STAIRS = (0.03, 0.1)  # softness of the staircase plots


def _elementwise_cases():
    """``(name, fn(x, s, mode), hard(x), x_range, title[, softnesses])``; comparisons are against 0.

    The staircases (floor, ceil, trunc, floor_divide, mod) are shown at
    softness 0.03 and 0.1: at 0.3 their steps, one unit apart, merge into a
    ramp.
    """
    return [
        (
            "heaviside",
            lambda x, s, m: sj.heaviside(x, s, m),
            lambda x: np.heaviside(x, 0.5),
            (-1, 1),
            "heaviside(x)",
        ),
        ("sign", lambda x, s, m: sj.sign(x, s, m), np.sign, (-1, 1), "sign(x)"),
        ("abs", lambda x, s, m: sj.abs(x, s, m), np.abs, (-1, 1), "abs(x)"),
        ("relu", lambda x, s, m: sj.relu(x, s, m), lambda x: np.maximum(x, 0), (-1, 1), "relu(x)"),
        (
            "clip",
            lambda x, s, m: sj.clip(x, -0.5, 0.5, s, m),
            lambda x: np.clip(x, -0.5, 0.5),
            (-1.25, 1.25),
            "clip(x, -0.5, 0.5)",
        ),
        ("round", lambda x, s, m: sj.round(x, s, m), np.round, (-1.5, 1.5), "round(x)"),
        ("floor", lambda x, s, m: sj.floor(x, softness=s, mode=m), np.floor, (-2, 2), "floor(x)", _STAIRS),
        ("ceil", lambda x, s, m: sj.ceil(x, softness=s, mode=m), np.ceil, (-2, 2), "ceil(x)", _STAIRS),
        (
            "trunc",
            lambda x, s, m: sj.trunc(x, softness=s, mode=m),
            np.trunc,
            (-2.5, 2.5),
            "trunc(x)",
            _STAIRS,
        ),
        (
            "floor_divide",
            lambda x, s, m: sj.floor_divide(x, 1.5, softness=s, mode=m),
            lambda x: np.floor_divide(x, 1.5),
            (-3, 3),
            "floor_divide(x, 1.5)",
            _STAIRS,
        ),
        (
            "mod",
            lambda x, s, m: sj.mod(x, 1.5, softness=s, mode=m),
            lambda x: np.mod(x, 1.5),
            (-3, 3),
            "mod(x, 1.5)",
            _STAIRS,
        ),
        (
            "maximum",
            lambda x, s, m: sj.maximum(x, 0.25, softness=s, mode=m),
            lambda x: np.maximum(x, 0.25),
            (-1, 1),
            "maximum(x, 0.25)",
        ),
        (
            "minimum",
            lambda x, s, m: sj.minimum(x, 0.25, softness=s, mode=m),
            lambda x: np.minimum(x, 0.25),
            (-1, 1),
            "minimum(x, 0.25)",
        ),
        (
            "relu6",
            lambda x, s, m: sj.relu6(x, softness=s, mode=m),
            lambda x: np.clip(x, 0, 6),
            (-2, 8),
            "relu6(x)",
        ),
        (
            "hard_tanh",
            lambda x, s, m: sj.hard_tanh(x, softness=s, mode=m),
            lambda x: np.clip(x, -1, 1),
            (-2, 2),
            "hard_tanh(x)",
        ),
        (
            "hard_sigmoid",
            lambda x, s, m: sj.hard_sigmoid(x, softness=s, mode=m),
            lambda x: np.clip(x + 3, 0, 6) / 6,
            (-5, 5),
            "hard_sigmoid(x)",
        ),
        (
            "hard_silu",
            lambda x, s, m: sj.hard_silu(x, softness=s, mode=m),
            lambda x: x * np.clip(x + 3, 0, 6) / 6,
            (-5, 5),
            "hard_silu(x)",
        ),
        (
            "greater",
            lambda x, s, m: sj.greater(x, 0.0, s, m),
            lambda x: (x > 0).astype(float),
            (-1, 1),
            "greater(x, 0)",
        ),
        (
            "greater_equal",
            lambda x, s, m: sj.greater_equal(x, 0.0, s, m),
            lambda x: (x >= 0).astype(float),
            (-1, 1),
            "greater_equal(x, 0)",
        ),
        (
            "less",
            lambda x, s, m: sj.less(x, 0.0, s, m),
            lambda x: (x < 0).astype(float),
            (-1, 1),
            "less(x, 0)",
        ),
        (
            "less_equal",
            lambda x, s, m: sj.less_equal(x, 0.0, s, m),
            lambda x: (x <= 0).astype(float),
            (-1, 1),
            "less_equal(x, 0)",
        ),
        (
            "equal",
            lambda x, s, m: sj.equal(x, 0.0, s, m),
            lambda x: (x == 0).astype(float),
            (-1, 1),
            "equal(x, 0)",
        ),
        (
            "not_equal",
            lambda x, s, m: sj.not_equal(x, 0.0, s, m),
            lambda x: (x != 0).astype(float),
            (-1, 1),
            "not_equal(x, 0)",
        ),
        (
            "isclose",
            lambda x, s, m: sj.isclose(x, 0.0, s, mode=m),
            lambda x: np.isclose(x, 0).astype(float),
            (-1, 1),
            "isclose(x, 0)",
        ),
        (
            "searchsorted",
            lambda x, s, m: sj.searchsorted(jnp.array([-0.5, 0.0, 0.5]), x, softness=s, mode=m),
            lambda x: np.searchsorted([-0.5, 0.0, 0.5], x).astype(float),
            (-1, 1),
            "searchsorted([-0.5, 0, 0.5], x)",
        ),
        (
            "isin",
            lambda x, s, m: sj.isin(x, jnp.array([-0.5, 0.5]), softness=s, mode=m),
            lambda x: np.isin(x, [-0.5, 0.5]).astype(float),
            (-1, 1),
            "isin(x, [-0.5, 0.5])",
        ),
        (
            "select",
            lambda x, s, m: sj.select(
                [sj.less(x, -0.5, s, m), sj.less(x, 0.5, s, m)], [jnp.asarray(-1.0), jnp.asarray(0.0)], 1.0
            ),
            lambda x: np.select([x < -0.5, x < 0.5], [-1.0, 0.0], 1.0),
            (-1, 1),
            "select([x < -0.5, x < 0.5], [-1, 0], 1)",
        ),
        (
            "cummax",
            lambda x, s, m: sj.cummax(jnp.stack([jnp.zeros_like(x), x]), softness=s, mode=m)[-1],
            lambda x: np.maximum(0.0, x),
            (-1, 1),
            "cummax([0, x])[-1]",
        ),
        (
            "one_hot",
            lambda x, s, m: sj.one_hot(x, 3, softness=s, mode=m)[1],
            lambda x: (np.round(x) == 1).astype(float),
            (-0.5, 2.5),
            "one_hot(x, 3)[1]",
            _STAIRS,
        ),
    ]


def elementwise_figures(n_grid: int = 241) -> list[str]:
    names = []
    for name, fn, hard, (lo, hi), title, *rest in _elementwise_cases():
        softnesses = rest[0] if rest else SOFTNESSES
        xs = jnp.linspace(lo, hi, n_grid, dtype=jnp.float32)

        def curves(xs, fn=fn, softnesses=softnesses):
            return {
                (s, m): jax.vmap(_value_and_derivative(lambda t, s=s, m=m: fn(t, s, m)))(xs)
                for s in softnesses
                for m in MODES
            }

        out = _eager(curves, xs)
        x = np.asarray(xs)
        fig, axes = plt.subplots(2, 2, figsize=(8, 4.6), sharex=True)
        for col, s in enumerate(softnesses):
            ax_v, ax_d = axes[0, col], axes[1, col]
            ax_v.plot(x, hard(x), label="hard", **HARD_STYLE)
            for m in MODES:
                value, deriv = out[(s, m)]
                ax_v.plot(x, value, label=_label(m), **MODE_STYLE[m])
                ax_d.plot(x, deriv, label=_label(m), **MODE_STYLE[m])
            ax_v.set_title(f"sj.{title}, softness={s}")
            ax_d.set_title("derivative d/dx")
            ax_d.set_xlabel("x")
            for ax in (ax_v, ax_d):
                ax.grid(alpha=0.3)
        axes[0, 0].legend(loc="best")
        _save(fig, GALLERY / f"{name}.png")
        names.append(name)
    return names


def step_figures(n_grid: int = 241) -> list[str]:
    """``sigmoidal`` (public and p-norm modes) and ``softrelu`` (gated and not)."""
    xs = jnp.linspace(-1, 1, n_grid, dtype=jnp.float32)
    x = np.asarray(xs)
    step_modes = (*MODES, "_c1_pnorm", "_c2_pnorm")

    def sig_curves(xs):
        return {
            m: jax.vmap(_value_and_derivative(lambda t, m=m: sj.sigmoidal(t, 0.1, m)))(xs) for m in step_modes
        }

    def relu_curves(xs):
        return {
            (m, g): jax.vmap(_value_and_derivative(lambda t, m=m, g=g: sj.softrelu(t, 0.1, m, gated=g)))(xs)
            for m in step_modes
            for g in (False, True)
        }

    sig = _eager(sig_curves, xs)
    fig, (ax_v, ax_d) = plt.subplots(1, 2, figsize=(8, 3))
    ax_v.plot(x, np.heaviside(x, 0.5), label="step", **HARD_STYLE)
    for m in step_modes:
        ax_v.plot(x, sig[m][0], label=_label(m), **MODE_STYLE[m])
        ax_d.plot(x, sig[m][1], label=_label(m), **MODE_STYLE[m])
    ax_v.set_title("sj.sigmoidal(x, softness=0.1, mode)")
    ax_d.set_title("derivative d/dx")
    ax_v.legend(loc="upper left")
    for ax in (ax_v, ax_d):
        ax.grid(alpha=0.3)
        ax.set_xlabel("x")
    _save(fig, GALLERY / "sigmoidal.png", bottom=0.15, top=0.9)

    rel = _eager(relu_curves, xs)
    fig, axes = plt.subplots(2, 2, figsize=(8, 4.6), sharex=True)
    for col, gated in enumerate((False, True)):
        axes[0, col].plot(x, np.maximum(x, 0), label="relu", **HARD_STYLE)
        for m in step_modes:
            value, deriv = rel[(m, gated)]
            axes[0, col].plot(x, value, label=_label(m), **MODE_STYLE[m])
            axes[1, col].plot(x, deriv, label=_label(m), **MODE_STYLE[m])
        axes[0, col].set_title(f"sj.softrelu(x, softness=0.1, mode, gated={gated})")
        axes[1, col].set_title("derivative d/dx")
        axes[1, col].set_xlabel("x")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left")
    _save(fig, GALLERY / "softrelu.png")
    return ["sigmoidal", "softrelu"]


# ------------------------------------------------------------------ axis-wise

_BASE = np.array([0.0, 1.0, 2.0], dtype=np.float32)


def _moving(x):
    return jnp.concatenate([jnp.reshape(x, (1,)), jnp.asarray(_BASE)])


def _hard_moving(op: str, x: np.ndarray) -> np.ndarray:
    v = np.concatenate([x[:, None], np.broadcast_to(_BASE, (x.size, 3))], axis=1)
    if op == "sort":
        return np.sort(v, axis=1)
    if op == "rank":  # 1 = largest, as sj.rank's default descending=True
        return (v[:, :, None] < v[:, None, :]).sum(axis=2) + 1.0
    if op == "max":
        return v.max(axis=1)
    return np.median(v, axis=1)


def axiswise_figures(n_grid: int = 121) -> list[str]:
    """Soft sort/rank/max/median of ``[x, 0, 1, 2]`` for every method (smooth mode)."""
    xs = jnp.linspace(-1, 3, n_grid, dtype=jnp.float32)
    x = np.asarray(xs)
    ops = {"sort": sj.sort, "rank": sj.rank, "max": sj.max, "median": sj.median}
    results = {}
    for method in METHODS:  # one compile per method, all four operators inside

        def curves(xs, method=method):
            return {
                name: jax.vmap(_value_and_derivative(lambda t, op=op: op(_moving(t), method=method)))(xs)
                for name, op in ops.items()
            }

        t0 = time.perf_counter()
        results[method] = _compile(curves, xs)
        print(f"gallery:   moving element, {method}: {time.perf_counter() - t0:.1f} s", flush=True)

    names = []
    for name in ops:
        hard = _hard_moving(name, x)
        fig, axes = plt.subplots(2, len(METHODS), figsize=(15, 4.8), sharex=True, sharey="row")
        for col, method in enumerate(METHODS):
            value, deriv = results[method][name]
            ax_v, ax_d = axes[0, col], axes[1, col]
            ax_v.plot(x, hard, **HARD_STYLE)
            ax_v.plot(x, value)
            ax_d.plot(x, deriv)
            ax_v.set_title(method)
            ax_d.set_xlabel("x")
            for ax in (ax_v, ax_d):
                ax.grid(alpha=0.3)
                for knot in _BASE:
                    ax.axvline(knot, color="0.8", lw=0.6, zorder=0)
        axes[0, 0].set_ylabel(f"sj.{name}([x, 0, 1, 2])")
        axes[1, 0].set_ylabel("derivative d/dx")
        fig.suptitle(
            f"soft {name} of [x, 0, 1, 2] as x moves (mode='smooth', softness=0.1, standardize=True; "
            "dotted: hard)",
            fontsize=10,
        )
        _save(fig, GALLERY / f"moving_{name}.png", top=0.88)
        names.append(f"moving_{name}")
    return names


def sort_modes_figure(n_grid: int = 121) -> list[str]:
    """``sort([x, 0, 1, 2])`` with the default method (neuralsort) in every soft mode."""
    xs = jnp.linspace(-1, 3, n_grid, dtype=jnp.float32)
    x = np.asarray(xs)

    def curves(xs):
        return {
            m: jax.vmap(_value_and_derivative(lambda t, m=m: sj.sort(_moving(t), mode=m)))(xs) for m in MODES
        }

    out = _compile(curves, xs)
    hard = _hard_moving("sort", x)
    fig, axes = plt.subplots(2, len(MODES), figsize=(12, 4.8), sharex=True, sharey="row")
    for col, m in enumerate(MODES):
        axes[0, col].plot(x, hard, **HARD_STYLE)
        axes[0, col].plot(x, out[m][0])
        axes[1, col].plot(x, out[m][1])
        axes[0, col].set_title(f"mode={m!r}")
        axes[1, col].set_xlabel("x")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("sj.sort([x, 0, 1, 2])")
    axes[1, 0].set_ylabel("derivative d/dx")
    fig.suptitle("soft sort (method='neuralsort', softness=0.1) in each mode; dotted: hard", fontsize=10)
    _save(fig, GALLERY / "sort_modes.png", top=0.88)
    return ["sort_modes"]


_MASK_METHODS = ("fast_soft_sort", "threshold", "softsort", "neuralsort", "ot", "sorting_network")


def top_k_mask_figure(n_grid: int = 121) -> list[str]:
    """``top_k_mask([x, 0, 1, 2], k=2)[0]`` (is x among the top 2?) for every method and mode."""
    xs = jnp.linspace(-1, 3, n_grid, dtype=jnp.float32)
    x = np.asarray(xs)
    results = {}
    for method in _MASK_METHODS:  # one compile per method, every mode inside

        def curves(xs, method=method):
            return {
                m: jax.vmap(
                    _value_and_derivative(
                        lambda t, m=m: sj.top_k_mask(_moving(t), 2, mode=m, method=method)[0]
                    )
                )(xs)
                for m in MODES
            }

        t0 = time.perf_counter()
        results[method] = _compile(curves, xs)
        print(f"gallery:   top_k_mask, {method}: {time.perf_counter() - t0:.1f} s", flush=True)
    hard = (x > 1.0).astype(float)  # x is among the top 2 of [x, 0, 1, 2] once it passes 1
    fig, axes = plt.subplots(2, len(_MASK_METHODS), figsize=(15, 4.8), sharex=True, sharey="row")
    for col, method in enumerate(_MASK_METHODS):
        ax_v, ax_d = axes[0, col], axes[1, col]
        ax_v.plot(x, hard, label="hard", **HARD_STYLE)
        for m in MODES:
            value, deriv = results[method][m]
            ax_v.plot(x, value, label=_label(m), **MODE_STYLE[m])
            ax_d.plot(x, deriv, label=_label(m), **MODE_STYLE[m])
        ax_v.set_title(method)
        ax_d.set_xlabel("x")
        for ax in (ax_v, ax_d):
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("top_k_mask([x, 0, 1, 2], 2)[0]")
    axes[1, 0].set_ylabel("derivative d/dx")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        "soft top-2 membership of x in [x, 0, 1, 2] as x moves "
        "(softness=0.1, standardize=True; dotted: hard)",
        fontsize=10,
    )
    _save(fig, GALLERY / "top_k_mask.png", top=0.88)
    return ["top_k_mask"]


# ------------------------------------------------------------------ methods page


def method_figures(n: int = 256, batch: int = 8, repeats: int = 5) -> dict[str, dict]:
    """Accuracy vs softness and a quick value+grad timing of ``sort`` per method.

    One normally optimised compile per method; ``softness`` is a traced
    argument so every softness value reuses it.
    """
    key_x, key_w = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(key_x, (batch, n), dtype=jnp.float32)
    w = jax.random.normal(key_w, (batch, n), dtype=jnp.float32)
    hard = np.sort(np.asarray(x), axis=-1)
    softnesses = np.array([0.01, 0.03, 0.1, 0.3, 1.0], dtype=np.float32)
    stats: dict[str, dict] = {}
    for method in METHODS:

        def loss(x, s, method=method):
            y = sj.sort(x, axis=-1, softness=s, method=method)
            return jnp.sum(w * y), y

        fn = jax.jit(jax.value_and_grad(loss, has_aux=True))
        t0 = time.perf_counter()
        compiled = fn.lower(x, jnp.float32(0.1)).compile()
        compile_s = time.perf_counter() - t0
        errors = []
        for s in softnesses:
            (_, y), _ = compiled(x, jnp.float32(s))
            errors.append(float(np.mean(np.abs(np.asarray(y) - hard))))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(x, jnp.float32(0.1)))
            times.append(time.perf_counter() - t0)
        print(f"gallery:   sort timing, {method}: compile {compile_s:.1f} s", flush=True)
        stats[method] = {"errors": errors, "ms": 1e3 * float(np.median(times)), "compile_s": compile_s}

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for method in METHODS:
        ax.loglog(softnesses, stats[method]["errors"], marker="o", label=method)
    ax.set_xlabel("softness")
    ax.set_ylabel("mean |sort_soft - sort_hard|")
    ax.set_title(f"accuracy of soft sort, x ~ N(0, 1), batch {batch} x n={n} (mode='smooth')")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    _save(fig, METHODS_DIR / "accuracy.png", left=0.13, bottom=0.15, top=0.9)

    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = list(METHODS)
    ax_t.barh(labels, [stats[m]["ms"] for m in labels], color="C0")
    ax_t.set_xlabel(f"ms, log scale (median of {repeats:d} calls)")
    ax_t.set_title(f"value+grad of sort, batch {batch} x n={n}")
    ax_c.barh(labels, [stats[m]["compile_s"] for m in labels], color="C1")
    ax_c.set_xlabel("s")
    ax_c.set_title("compile time of that function")
    ax_c.set_yticklabels([])
    ax_t.set_xscale("log")
    for ax, key, fmt in ((ax_t, "ms", "{:.3g} ms"), (ax_c, "compile_s", "{:.2g} s")):
        for row, m in enumerate(labels):
            ax.annotate(
                fmt.format(stats[m][key]),
                (stats[m][key], row),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        ax.margins(x=0.25)
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(
        f"QUICK TIMING during the docs build ({jax.devices()[0].platform}, float32, {os.cpu_count()} cores "
        "visible; not the benchmark harness)",
        fontsize=9,
    )
    _save(fig, METHODS_DIR / "timing.png", left=0.15, bottom=0.15, top=0.8, wspace=0.05)
    return stats


def harness_snippet() -> str:
    """Copy the benchmark harness's sort/rank/top_k plots if present; write the snippet.

    The snippet is included into ``docs/choosing-a-method.md``, so its image
    paths are relative to ``docs/``.
    """
    plots = [ROOT / "benchmarks" / "results" / "plots", ROOT / "benchmarks" / "plots"]
    found = next((p for p in plots if (p / "sort.png").is_file()), None)
    lines = []
    if found is None:
        lines.append(
            "*No benchmark-harness plots were present when these docs were built "
            "(run `python benchmarks/run.py --quick` first to include them here).*"
        )
    else:
        rel = found.relative_to(ROOT)
        lines.append(
            f"Plots of the benchmark harness, copied from `{rel}/` at build time "
            "(see `benchmarks/README.md` for what is measured and on which machine):"
        )
        lines.append("")
        for op in ("sort", "rank", "top_k"):
            if (found / f"{op}.png").is_file():
                shutil.copy(found / f"{op}.png", METHODS_DIR / f"harness_{op}.png")
                lines.append(f"![benchmark harness plot for {op}](generated/methods/harness_{op}.png)")
                lines.append("")
    text = "\n".join(lines) + "\n"
    (METHODS_DIR / "harness.md").write_text(text)
    return "harness plots copied" if found else "no harness plots"


# ------------------------------------------------------------------ main


PARTS = {
    # part -> (steps, stamp); build.sh runs the two parts in parallel processes
    "plots": (
        (elementwise_figures, step_figures, axiswise_figures, sort_modes_figure, top_k_mask_figure),
        GALLERY / ".stamp",
    ),
    "methods": ((method_figures, harness_snippet), METHODS_DIR / ".stamp"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=(*PARTS, "all"), default="all", help="what to generate (default: all)"
    )
    parser.add_argument("--if-missing", action="store_true", help="skip parts that are already complete")
    args = parser.parse_args(argv)
    if jax.config.jax_enable_x64:
        print("gallery: x64 is enabled; the plots are meant for float32", file=sys.stderr)
    GALLERY.mkdir(parents=True, exist_ok=True)
    METHODS_DIR.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for part in PARTS if args.part == "all" else (args.part,):
        steps, stamp = PARTS[part]
        if args.if_missing and stamp.is_file():
            continue
        stamp.unlink(missing_ok=True)
        t_part = time.perf_counter()
        for step in steps:
            t0 = time.perf_counter()
            result = step()
            label = result if isinstance(result, str) else f"{len(result)} items"
            print(f"gallery: {step.__name__:20s} {time.perf_counter() - t0:6.1f} s  ({label})", flush=True)
        stamp.write_text(f"{time.perf_counter() - t_part:.1f}\n")  # written last: the part is complete
    print(f"gallery: {args.part}: {time.perf_counter() - start:.1f} s -> {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
