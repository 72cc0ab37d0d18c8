r"""Projection onto the transport polytope: the kernel of ``method="ot"``.

For a batch of costs $C \in \mathbb{R}^{\dots \times n \times m}$ and marginals
$\mu \in \Delta_n$, $\nu \in \Delta_m$ (shared across the batch),
:func:`transport_plan` returns $n\,\Gamma^\star$ (or its logarithm) with

$$\Gamma^\star = \operatorname*{argmin}_{\Gamma \ge 0,\ \Gamma 1 = \mu,\ \Gamma^\top 1 = \nu}
\langle C, \Gamma\rangle + s\,\Omega(\Gamma),$$

* ``smooth``: $\Omega = \sum \Gamma(\log\Gamma - 1)$, log-domain Sinkhorn
  (Cuturi 2013; :mod:`.sinkhorn`), or Newton on the smooth dual with
  ``use_entropic_ot_sinkhorn_on_entropic=False``;
* ``c0``/``c1``/``c2``: $\Omega = \frac1p\sum\Gamma^p$, $p = 2, 3/2, 4/3$, damped
  Newton-CG on the smooth dual (Blondel, Seguy & Rolet 2018;
  :mod:`.sparse_transport`).

Differentiation (``implicit_diff=True``, always for Sinkhorn): the dual
potentials are a ``jax.custom_jvp`` whose tangent solves the linearised
marginal conditions $H\,(\dot f, \dot g) = \dots$ with the dual Hessian $H$
matrix-free (:mod:`.dual_hessian`, wrapped in ``lax.custom_linear_solve`` so
the rule transposes). Forward mode, reverse mode and higher orders all work;
each solve costs $O(nm)$ per CG iteration and $O(nm)$ memory, in float32 as in
float64 (no upcasting to float64; bfloat16 and float16 problems are solved in
float32, see :func:`work_dtype`). The plan is then an ordinary differentiable function
of the potentials. With ``implicit_diff=False`` (dual solver only) the
solver's own iterations are differentiated: forward mode (``jvp``/``jacfwd``)
only, reverse mode fails with JAX's ``while_loop`` error.

Non-convergence policy (identical for every solver): if any
problem's marginals miss the tolerance after the iteration cap, an
:class:`OTConvergenceWarning` is emitted (and an :class:`OTPrecisionWarning`,
a subclass, when a solver stopped at the round-off level with marginals off
by more than 1 %: float32 Sinkhorn at a very small softness) (through ``jax.debug.callback``, so
also under ``jit``; turn it into an error with ``warnings.simplefilter``) and
the last iterate is returned (with a sharded batch the flags are reduced on
device to four scalars before the host sees them: nothing per problem is
gathered across devices).
``transport_plan(..., return_info=True)`` also returns the per-problem flags.
(The prior implementation was silent for Sinkhorn and raised for L-BFGS.)
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_batching import custom_vmap

from softjax._src.kernels import compensated, dual_hessian, sinkhorn, sparse_transport as sparse
from softjax._src.kernels.vma import vary_like
from softjax._src.methods.declaration import unknown_options_message

__all__ = [
    "OTConvergenceWarning",
    "OTOptions",
    "OTPrecisionWarning",
    "resolve_ot_options",
    "transport_plan",
    "uncontracted",
    "work_dtype",
]

_MARGINAL_FLOOR = 1e-12
# Scaled marginal violation above which a stop at the round-off level is
# reported (OTPrecisionWarning): rows or columns off by more than 1 % of their
# mass. (Float32 Sinkhorn: the round-off of f + g - C relative to the plan
# grows like cost / softness; the Newton solver's double-word potentials
# avoid it.)
_PRECISION_WARN = 1e-2


def work_dtype(dtype):
    """The dtype a problem of ``dtype`` is solved in: float32 below single precision.

    ``bfloat16``/``float16`` cannot resolve the dual gap ``f + g - C`` (8 or
    11 significant bits): solved in those dtypes the plans' marginals were off
    by 1-7 %. Costs, solver and implicit-differentiation solves then run in
    float32 and only the result is cast back.
    """
    return jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype


def uncontracted(v: jax.Array) -> jax.Array:
    """``v`` behind a maximum that changes no finite value, so that no fusion
    contracts the product or square producing it into a later addition as a
    fused multiply-add (an optimization barrier is removed before fusion on
    CPU). XLA recomputes cheap producers in every fusion that reads them; a
    contraction in some of them only leaves the copies rounded differently.
    """
    return jnp.maximum(v, jnp.finfo(v.dtype).min)


class OTConvergenceWarning(RuntimeWarning):
    """An optimal-transport solver stopped at its iteration cap before the marginals held."""


class OTPrecisionWarning(OTConvergenceWarning):
    r"""The marginals hold only coarsely: the working precision cannot resolve the plan.

    The solvers stop once the marginal violation is below the tolerance or
    below the round-off level of evaluating the plan (no more iterations can
    reduce it). For Sinkhorn (``mode="smooth"``) that level is about
    $\varepsilon\,R / s$ relative to a row's mass ($R$ the cost range, $s$
    the softness, $\varepsilon$ the unit round-off): in float32 it matters
    once $R / s \gtrsim 10^5$. The Newton solver (``c0``/``c1``/``c2``, and
    ``smooth`` with ``use_entropic_ot_sinkhorn_on_entropic=False``) carries
    float32 potentials as double words (:mod:`.compensated`) and meets the
    tolerance there too. This warning is emitted when the violation left
    exceeds 1 % of a row's or column's mass. Remedies: float64
    (``jax.config.update("jax_enable_x64", True)``), a larger softness or
    the Newton solver.
    """


class OTOptions(NamedTuple):
    """Validated ``ot_kwargs``; hashable, used as a static argument."""

    use_entropic_ot_sinkhorn_on_entropic: bool = True
    sinkhorn_tol: float = 1e-5
    sinkhorn_max_iter: int = 10000
    lbfgs_tol: float = 1e-5
    lbfgs_max_iter: int = 10000
    implicit_diff: bool = True


def resolve_ot_options(ot_kwargs: dict | OTOptions | None) -> OTOptions:
    """Validate ``ot_kwargs`` and fill in the defaults.

    Raises:
        TypeError: a non-dict, or values of the wrong type.
        ValueError: unknown keys (including ``return_log_probs``), listing
            the valid ones; non-positive tolerances or iteration caps.
    """
    if ot_kwargs is None:
        return OTOptions()
    if isinstance(ot_kwargs, OTOptions):
        return ot_kwargs
    if not isinstance(ot_kwargs, dict):
        raise TypeError(f"ot_kwargs must be a dict or None, got {type(ot_kwargs).__name__}")
    unknown = sorted(set(ot_kwargs) - set(OTOptions._fields), key=str)
    if unknown:
        raise ValueError(unknown_options_message(unknown, OTOptions._fields))
    values: dict[str, Any] = {}
    for key, value in ot_kwargs.items():
        if key in ("use_entropic_ot_sinkhorn_on_entropic", "implicit_diff"):
            if not isinstance(value, bool):
                raise TypeError(f"ot_kwargs[{key!r}] must be a bool, got {value!r}")
        elif key.endswith("_tol"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"ot_kwargs[{key!r}] must be a float, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"ot_kwargs[{key!r}] must be positive and finite, got {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"ot_kwargs[{key!r}] must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"ot_kwargs[{key!r}] must be >= 1, got {value!r}")
        values[key] = float(value) if key.endswith("_tol") else value
    return OTOptions(**values)


class _Config(NamedTuple):
    mode: str
    sinkhorn: bool
    tol: float
    max_iter: int


def _solve(cost, mu, nu, s, cfg: _Config) -> sparse.SolverResult:
    if cfg.sinkhorn:
        res = sinkhorn.sinkhorn_potentials(cost, mu, nu, s, tol=cfg.tol, max_iter=cfg.max_iter)
    else:
        res = sparse.newton_potentials(cost, mu, nu, s, cfg.mode, tol=cfg.tol, max_iter=cfg.max_iter)
    # Fix the gauge (f + c, g - c) to sum(f) = sum(g); the implicit tangents
    # below satisfy the same linear constraint.
    n, m = cost.shape
    shift = (jnp.sum(res.g) - jnp.sum(res.f)) / (n + m)
    if res.f_lo is None:
        return res._replace(f=res.f + shift, g=res.g - shift)
    f, f_lo = compensated.add(res.f, res.f_lo, shift)
    g, g_lo = compensated.add(res.g, res.g_lo, -shift)
    return res._replace(f=f, g=g, f_lo=f_lo, g_lo=g_lo)


def _low_words(cost, cfg: _Config):
    """Whether the solver of ``cfg`` returns double-word potentials for ``cost``'s dtype."""
    return not cfg.sinkhorn and compensated.needs_compensation(cost.dtype)


def _implicit_tangent(cost, f, g, s, mode, d_cost, d_mu, d_nu, d_s, f_lo=None, g_lo=None):
    """Tangent of the potentials from the linearised marginal conditions."""
    n, m = cost.shape
    # The support of a sparse plan (and so the Jacobian) is read off the sign
    # of z: evaluated from double-word potentials where the solver kept them.
    z = compensated.dual_gap(f, g, cost, f_lo, g_lo)
    w = sparse.weights_from_z(z, s, mode)
    plan_s = sparse.plan_softness_derivative(z, s, mode)
    # d(Γ1) = dμ with dΓ = W ⊙ (df ⊕ dg − dC) + ∂Γ/∂s ds, and likewise for columns.
    moved = w * d_cost - plan_s * d_s
    b_rows = d_mu + jnp.sum(moved, axis=1)
    b_cols = d_nu + jnp.sum(moved, axis=0)
    rtol = max(1e-7, 64 * float(jnp.finfo(cost.dtype).eps))
    maxiter = 2 * min(n, m) + 50

    def matvec(x):
        xr, xc = x
        return (jnp.sum(w, 1) * xr + w @ xc, w.T @ xr + jnp.sum(w, 0) * xc)

    def solve(_, b):
        xr, xc, _ = dual_hessian.solve(w, b[0], b[1], delta=0.0, rtol=rtol, maxiter=maxiter)
        return xr, xc

    return lax.custom_linear_solve(matvec, (b_rows, b_cols), solve, symmetric=True)


def _solver_outputs(cost, mu, nu, s, cfg: _Config):
    """``(f, g, f_lo, g_lo, ratio, violation, iterations)``; zero low words where none are kept."""
    res = _solve(cost, mu, nu, s, cfg)
    f_lo = jnp.zeros_like(res.f) if res.f_lo is None else res.f_lo
    g_lo = jnp.zeros_like(res.g) if res.g_lo is None else res.g_lo
    return res.f, res.g, f_lo, g_lo, res.ratio, res.violation, res.iterations


@functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
def _potentials(cost, mu, nu, s, cfg: _Config):
    return _solver_outputs(cost, mu, nu, s, cfg)


@_potentials.defjvp
def _potentials_jvp(cfg, primals, tangents):
    cost, mu, nu, s = primals
    d_cost, d_mu, d_nu, d_s = tangents
    out = _potentials(cost, mu, nu, s, cfg)
    f, g, f_lo, g_lo = out[:4]
    lo = (f_lo, g_lo) if _low_words(cost, cfg) else ()
    df, dg = _implicit_tangent(cost, f, g, s, cfg.mode, d_cost, d_mu, d_nu, d_s, *lo)
    # The low words, the convergence report and the iteration count are
    # constant to first order.
    zeros = tuple(jnp.zeros_like(a) for a in out[2:6])
    # float0 tangent of the iteration count, varying like it under shard_map
    int_zero = vary_like(jnp.zeros(out[6].shape, jax.dtypes.float0), out[6])
    return out, (df, dg, *zeros, int_zero)


def _prepare_marginal(p, size: int, batch: tuple[int, ...], dtype) -> jax.Array:
    # Floor at 1e-12 and renormalise: zero masses stay solvable.
    p = jnp.broadcast_to(jnp.asarray(p, dtype), (*batch, size))
    p = jnp.maximum(p, _MARGINAL_FLOOR)
    return p / jnp.sum(p, axis=-1, keepdims=True)


def _convergence_counts(ratio, violation, *, tol: float):
    """Four scalars that the warning needs: how many problems missed the
    tolerance and their worst violation, and how many stopped at the round-off
    level with marginals off by more than 1 % and their worst violation.

    Reduced on device, so a sharded batch crosses devices as one scalar
    all-reduce each, never per problem (NaN from NaN inputs counts in neither).
    """
    unconverged = ratio > 1
    coarse = (ratio <= 1) & (violation > max(_PRECISION_WARN, tol))
    zero = jnp.zeros((), violation.dtype)
    return (
        jnp.sum(unconverged, dtype=jnp.int32),
        jnp.max(jnp.where(unconverged, violation, zero), initial=zero),
        jnp.sum(coarse, dtype=jnp.int32),
        jnp.max(jnp.where(coarse, violation, zero), initial=zero),
    )


def _warn_if_unconverged(
    unconverged,
    worst_unconverged,
    coarse,
    worst_coarse,
    *,
    problems: int,
    what: str,
    max_iter: int,
    tol: float,
    dtype: str,
):
    checks = (
        (
            int(unconverged),
            float(worst_unconverged),
            OTConvergenceWarning,
            (
                f"did not converge for {{count}} of {problems} problem(s) within {max_iter} "
                f"iterations: max marginal violation {{worst:.3g}}"
            ),
            "Increase the iteration cap in ot_kwargs, loosen the tolerance or increase softness.",
        ),
        (
            int(coarse),
            float(worst_coarse),
            OTPrecisionWarning,
            (
                f"stopped at the round-off level for {{count}} of {problems} problem(s): the "
                f"marginals hold only to {{worst:.3g}}"
            ),
            (
                f"{dtype} cannot resolve the plan at this "
                "softness (the round-off of f + g - C is comparable with the plan's entries). "
                "Use float64 or a larger softness."
            ),
        ),
    )
    for count, worst, category, head, advice in checks:
        if count:
            warnings.warn(
                f"{what} {head.format(count=count, worst=worst)} (tolerance {tol:.3g}, "
                f"relative to the target mass or 1/n). {advice}",
                category,
                stacklevel=2,
            )


class TransportInfo(NamedTuple):
    """Per-problem solver report (batch shape of the cost)."""

    converged: jax.Array  # bool; False also for NaN inputs
    violation: jax.Array  # max |marginal - target| / max(target, 1/n)
    iterations: jax.Array


def _report_convergence(warn, ratio, violation, *, tol: float) -> None:
    """Host-side convergence check of a batch of problems.

    The flags are first reduced to four scalars on device
    (:func:`_convergence_counts`): the host receives four numbers, whatever
    the batch size and sharding (inside a ``shard_map``, four per device).
    Under ``vmap`` JAX unrolls a debug callback into one call per mapped
    element; the ``custom_vmap`` rule below flattens the mapped axes into the
    problem axis and calls back once.
    """

    @custom_vmap
    def report(ratio, violation):
        counts = _convergence_counts(ratio, violation, tol=tol)
        jax.debug.callback(functools.partial(warn, problems=ratio.size), *counts)
        return ratio

    @report.def_vmap
    def _fold(axis_size, in_batched, *args):
        full = [
            a if b else jnp.broadcast_to(a, (axis_size, *a.shape))
            for a, b in zip(args, in_batched, strict=True)
        ]
        report(*(a.reshape(-1) for a in full))
        return full[0], True

    report(ratio, violation)


@functools.partial(jax.jit, static_argnames=("cfg", "implicit", "log"))
def _batched_plan(cost, mu, nu, s, *, cfg: _Config, implicit: bool, log: bool):
    # Jitted at module level so that eager calls reuse the compiled solver
    # (the solvers' while loops are large: compiling them takes seconds).
    solver = _potentials if implicit else _solver_outputs
    # Every use of the cost must see the same rounded values. Under an
    # enclosing jit XLA fuses a cheap producer such as (x - t)^2 into the
    # final f + g - C, where LLVM may contract the square and the subtraction
    # into one fused multiply-add: the plan then sees the unrounded cost while
    # the solver's loop saw the rounded one, and a sparse plan at a small
    # softness (entries z ~ s / n) is that sensitive (float32, c0, n = 33,
    # softness 1e-6: log-plan columns off by 3 %, or empty).
    cost = uncontracted(cost)
    f, g, f_lo, g_lo, ratio, violation, iters = jax.vmap(lambda c, a, b, e: solver(c, a, b, e, cfg))(
        cost, mu, nu, s
    )
    what = "Sinkhorn" if cfg.sinkhorn else f"OT dual Newton solver (mode={cfg.mode!r})"
    _report_convergence(
        functools.partial(
            _warn_if_unconverged, what=what, max_iter=cfg.max_iter, tol=cfg.tol, dtype=cost.dtype.name
        ),
        *(lax.stop_gradient(a) for a in (ratio, violation)),
        tol=cfg.tol,
    )
    n = cost.shape[1]
    z = compensated.dual_gap(f, g, cost, *((f_lo, g_lo) if _low_words(cost, cfg) else ()))
    eps = s[:, None, None]
    if log:
        out = sparse.log_plan_from_z(z, eps, cfg.mode) + jnp.log(jnp.asarray(n, cost.dtype))
    else:
        out = n * sparse.plan_from_z(z, eps, cfg.mode)
    return out, ratio, violation, iters


def transport_plan(
    cost: jax.Array,
    mu: jax.Array,
    nu: jax.Array,
    softness: Any,
    mode: str,
    *,
    log: bool = False,
    options: dict | OTOptions | None = None,
    return_info: bool = False,
):
    r"""Regularised optimal transport plan, scaled by $n$.

    Args:
        cost: ``(..., n, m)`` costs $C$ (float; the dtype is kept: ``bfloat16``
            and ``float16`` problems are solved in float32, see :func:`work_dtype`,
            and the plan is cast back).
        mu: ``(n,)`` source marginal (or broadcastable to ``(..., n)``).
        nu: ``(m,)`` target marginal (or broadcastable to ``(..., m)``). Both are
            floored at ``1e-12`` and renormalised.
        softness: $s > 0$, scalar or broadcastable to the batch shape ``...``.
        mode: ``"smooth"`` (entropy, $\Gamma = e^{(f+g-C)/s}$) or ``"c0"``,
            ``"c1"``, ``"c2"`` ($\Gamma = s^{1-q}[f+g-C]_+^{q-1}$, $q = 2, 3, 4$).
        log: return $\log(n\Gamma)$ instead: $(f+g-C)/s + \log n$ for the entropic
            plan, the log of the sparse plans ($-\infty$ at exact zeros, with
            finite gradients elsewhere).
        options: ``ot_kwargs`` (see :func:`resolve_ot_options`).
        return_info: also return a :class:`TransportInfo`.

    Returns:
        ``(..., n, m)`` array $n\Gamma^\star$ (rows sum to 1, column $j$ to $n\nu_j$),
        or its log; with ``return_info`` a pair ``(plan, info)``.

    Examples:
        >>> from softjax._src.kernels.transport import transport_plan
        >>> x = jnp.array([0.1, 0.9, 0.4])
        >>> t = jnp.array([0.0, 1.0])
        >>> plan = transport_plan((x[:, None] - t) ** 2, jnp.ones(3) / 3,
        ...                       jnp.array([2 / 3, 1 / 3]), 0.01, "c0")
        >>> plan.round(3)
        Array([[1., 0.],
               [0., 1.],
               [1., 0.]], dtype=float32)
    """
    from softjax._src.validation import SOFT_MODES, ensure_float, validate_mode, validate_softness

    opts = resolve_ot_options(options)
    validate_mode(mode, SOFT_MODES)
    validate_softness(softness)
    cost = ensure_float(cost)
    if cost.ndim < 2:
        raise ValueError(f"cost must have shape (..., n, m), got shape {cost.shape}")
    out_dtype = cost.dtype
    dtype = work_dtype(out_dtype)
    cost = cost.astype(dtype)
    *lead, n, m = cost.shape
    batch = tuple(lead)
    mu = _prepare_marginal(mu, n, batch, dtype)
    nu = _prepare_marginal(nu, m, batch, dtype)
    s = jnp.asarray(softness, dtype)
    try:
        s = jnp.broadcast_to(s, batch)
    except ValueError:
        raise ValueError(
            f"softness for method='ot' must be a scalar or broadcastable to the batch "
            f"shape {batch}, got shape {s.shape}"
        ) from None
    use_sinkhorn = mode == "smooth" and opts.use_entropic_ot_sinkhorn_on_entropic
    if use_sinkhorn:
        cfg = _Config(mode, True, opts.sinkhorn_tol, opts.sinkhorn_max_iter)
    else:
        cfg = _Config(mode, False, opts.lbfgs_tol, opts.lbfgs_max_iter)
    size = math.prod(batch)
    flat = (
        cost.reshape((size, n, m)),
        mu.reshape((size, n)),
        nu.reshape((size, m)),
        s.reshape((size,)),
    )
    implicit = use_sinkhorn or opts.implicit_diff
    out, ratio, violation, iters = _batched_plan(*flat, cfg=cfg, implicit=implicit, log=log)
    out = out.reshape(cost.shape)
    # NaN in, NaN out: a problem with a NaN cost or softness has no solution
    # (the sparse solvers would otherwise return a plausible-looking plan).
    poisoned = jnp.isnan(jnp.sum(cost, axis=(-2, -1)) + s.reshape(batch))
    out = jnp.where(poisoned[..., None, None], jnp.nan, out).astype(out_dtype)
    if not return_info:
        return out
    info = TransportInfo(
        (ratio <= 1).reshape(batch),
        violation.reshape(batch),
        iters.reshape(batch),
    )
    return out, info
