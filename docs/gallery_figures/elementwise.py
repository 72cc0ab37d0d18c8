"""Elementwise, comparison and step-function figures: values beside derivatives, every mode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import softjax as sj

from .common import (
    GALLERY,
    HARD_STYLE,
    MODE_STYLE,
    MODES,
    SOFTNESSES,
    mode_label,
    run_eager,
    save_figure,
    value_and_derivative,
)

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
                (s, m): jax.vmap(value_and_derivative(lambda t, s=s, m=m: fn(t, s, m)))(xs)
                for s in softnesses
                for m in MODES
            }

        out = run_eager(curves, xs)
        x = np.asarray(xs)
        fig, axes = plt.subplots(2, 2, figsize=(8, 4.6), sharex=True)
        for col, s in enumerate(softnesses):
            ax_v, ax_d = axes[0, col], axes[1, col]
            ax_v.plot(x, hard(x), label="hard", **HARD_STYLE)
            for m in MODES:
                value, deriv = out[(s, m)]
                ax_v.plot(x, value, label=mode_label(m), **MODE_STYLE[m])
                ax_d.plot(x, deriv, label=mode_label(m), **MODE_STYLE[m])
            ax_v.set_title(f"sj.{title}, softness={s}")
            ax_d.set_title("derivative d/dx")
            ax_d.set_xlabel("x")
            for ax in (ax_v, ax_d):
                ax.grid(alpha=0.3)
        axes[0, 0].legend(loc="best")
        save_figure(fig, GALLERY / f"{name}.png")
        names.append(name)
    return names


def step_figures(n_grid: int = 241) -> list[str]:
    """``sigmoidal`` (public and p-norm modes) and ``softrelu`` (gated and not)."""
    xs = jnp.linspace(-1, 1, n_grid, dtype=jnp.float32)
    x = np.asarray(xs)
    step_modes = (*MODES, "_c1_pnorm", "_c2_pnorm")

    def sig_curves(xs):
        return {
            m: jax.vmap(value_and_derivative(lambda t, m=m: sj.sigmoidal(t, 0.1, m)))(xs) for m in step_modes
        }

    def relu_curves(xs):
        return {
            (m, g): jax.vmap(value_and_derivative(lambda t, m=m, g=g: sj.softrelu(t, 0.1, m, gated=g)))(xs)
            for m in step_modes
            for g in (False, True)
        }

    sig = run_eager(sig_curves, xs)
    fig, (ax_v, ax_d) = plt.subplots(1, 2, figsize=(8, 3))
    ax_v.plot(x, np.heaviside(x, 0.5), label="step", **HARD_STYLE)
    for m in step_modes:
        ax_v.plot(x, sig[m][0], label=mode_label(m), **MODE_STYLE[m])
        ax_d.plot(x, sig[m][1], label=mode_label(m), **MODE_STYLE[m])
    ax_v.set_title("sj.sigmoidal(x, softness=0.1, mode)")
    ax_d.set_title("derivative d/dx")
    ax_v.legend(loc="upper left")
    for ax in (ax_v, ax_d):
        ax.grid(alpha=0.3)
        ax.set_xlabel("x")
    save_figure(fig, GALLERY / "sigmoidal.png", bottom=0.15, top=0.9)

    rel = run_eager(relu_curves, xs)
    fig, axes = plt.subplots(2, 2, figsize=(8, 4.6), sharex=True)
    for col, gated in enumerate((False, True)):
        axes[0, col].plot(x, np.maximum(x, 0), label="relu", **HARD_STYLE)
        for m in step_modes:
            value, deriv = rel[(m, gated)]
            axes[0, col].plot(x, value, label=mode_label(m), **MODE_STYLE[m])
            axes[1, col].plot(x, deriv, label=mode_label(m), **MODE_STYLE[m])
        axes[0, col].set_title(f"sj.softrelu(x, softness=0.1, mode, gated={gated})")
        axes[1, col].set_title("derivative d/dx")
        axes[1, col].set_xlabel("x")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left")
    save_figure(fig, GALLERY / "softrelu.png")
    return ["sigmoidal", "softrelu"]
