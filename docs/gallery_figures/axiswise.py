"""Axis-wise figures: soft sort/rank/max/median/top-k membership of ``[x, 0, 1, 2]`` as ``x`` moves."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import softjax as sj

from .common import (
    GALLERY,
    HARD_STYLE,
    METHODS,
    MODE_STYLE,
    MODES,
    mode_label,
    run_compiled,
    save_figure,
    value_and_derivative,
)

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
                name: jax.vmap(value_and_derivative(lambda t, op=op: op(_moving(t), method=method)))(xs)
                for name, op in ops.items()
            }

        t0 = time.perf_counter()
        results[method] = run_compiled(curves, xs)
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
        save_figure(fig, GALLERY / f"moving_{name}.png", top=0.88)
        names.append(f"moving_{name}")
    return names


def sort_modes_figure(n_grid: int = 121) -> list[str]:
    """``sort([x, 0, 1, 2])`` with the default method (neuralsort) in every soft mode."""
    xs = jnp.linspace(-1, 3, n_grid, dtype=jnp.float32)
    x = np.asarray(xs)

    def curves(xs):
        return {
            m: jax.vmap(value_and_derivative(lambda t, m=m: sj.sort(_moving(t), mode=m)))(xs) for m in MODES
        }

    out = run_compiled(curves, xs)
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
    save_figure(fig, GALLERY / "sort_modes.png", top=0.88)
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
                    value_and_derivative(
                        lambda t, m=m: sj.top_k_mask(_moving(t), 2, mode=m, method=method)[0]
                    )
                )(xs)
                for m in MODES
            }

        t0 = time.perf_counter()
        results[method] = run_compiled(curves, xs)
        print(f"gallery:   top_k_mask, {method}: {time.perf_counter() - t0:.1f} s", flush=True)
    hard = (x > 1.0).astype(float)  # x is among the top 2 of [x, 0, 1, 2] once it passes 1
    fig, axes = plt.subplots(2, len(_MASK_METHODS), figsize=(15, 4.8), sharex=True, sharey="row")
    for col, method in enumerate(_MASK_METHODS):
        ax_v, ax_d = axes[0, col], axes[1, col]
        ax_v.plot(x, hard, label="hard", **HARD_STYLE)
        for m in MODES:
            value, deriv = results[method][m]
            ax_v.plot(x, value, label=mode_label(m), **MODE_STYLE[m])
            ax_d.plot(x, deriv, label=mode_label(m), **MODE_STYLE[m])
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
    save_figure(fig, GALLERY / "top_k_mask.png", top=0.88)
    return ["top_k_mask"]
