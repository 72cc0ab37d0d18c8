r"""Projection onto the unit simplex for every soft mode.

A pure math kernel: it knows nothing of ``softness``, axes or the public API.
The caller divides by the softness (and validates it) and moves the working
axis last. For $z \in \mathbb{R}^n$ (last axis) it returns

$$y^\star = \operatorname*{argmax}_{y \ge 0,\ \sum_i y_i = 1}\ \langle z, y\rangle - \Omega(y),$$

whose sparse solutions have the form $y_i \propto (z_i - \theta)_+^{\alpha}$
with $\alpha = 1, 2, 3$ for ``c0``, ``c1``, ``c2``: sparsemax (Martins &
Astudillo 2016) and, up to a rescaling of $z$, 1.5- and 4/3-entmax (Peters,
Niculae & Martins 2019).

Design:

* The sparse modes sort each row once (O(n log n) time, O(n) memory, no
  n x n intermediates) and find the threshold from prefix sums in closed
  form, counting the support size ``K`` (never an argmax).
  Everything is computed in coordinates shifted by the row maximum, so the
  largest entry has gap exactly ``-θ' > 0`` and float32 stays accurate for
  huge inputs; one cheap refinement pass (same recipe, re-centred at the
  first threshold) recovers the digits that long near-tied rows lose in the
  prefix sums.
* Rows of 256 or more entries first use only their top $\max(64, n/16)$
  entries (``lax.top_k``), then four times as many: the recipe on a sorted
  prefix is exact whenever the support is shorter than the prefix. Otherwise
  (any row of the batch) the full sort runs, chosen by ``lax.cond``; under
  ``vmap`` a ``custom_vmap`` rule folds the mapped axis into the batch so the
  test stays one scalar ``cond`` (not a ``select`` running every branch).
  This is purely a speed-up: XLA's CPU sort takes ~30 ms for a (128, 1024)
  float32 array, its top-64 ~2 ms, and the O(n^2) methods project one such
  row per output position (softsort ``sort`` at n = 1024, batch 8: c0
  2.1 s -> 0.19 s, c1 2.4 s -> 0.74 s, c2 3.7 s -> 1.3 s).
* Rows of :data:`NEWTON_MIN_N` or more entries first try Newton's
  method on $\sum_i (z_i - \theta)_+^\alpha = 1$ before any sort: from
  $\theta = \max z - 1$ it rises monotonically to the root, about ten O(n)
  passes, and its supports are not capped by a prefix (c2 supports of
  60-80 entries on NeuralSort's 256-entry windows sent whole batches to the
  full sort: 16 s -> 0.44 s for n = 16384, batch 8; c0 0.72 s -> 0.39 s).
  When any row has not converged in 40 iterations, the sorted recipe above
  runs.
* The non-differentiable part (sort, counting ``K``, square/cube roots) is
  wrapped in one ``jax.custom_jvp`` function returning the gaps
  $t = (z - \theta)_+$. Its JVP follows from differentiating
  $\sum_i t_i^\alpha = 1$: $\dot\theta = w^\top \dot z / \sum w$ with
  $w = t^{\alpha-1}$ on the support, $\dot t = m \odot (\dot z - \dot\theta)$.
  The rule uses only products and one guarded division, so it is itself
  differentiable: ``jacfwd``, ``jacrev``, ``hessian`` and
  ``jacrev(grad(f))`` are finite (no square root or cube root is ever
  differentiated).
* $y = t^\alpha / \sum t^\alpha$ is formed by ordinary JAX ops, which yields
  the quotient rule and the symmetric Jacobian
  $\alpha(\operatorname{diag}(w) - w w^\top / \sum w)$.

Deliberate deviations from the prior recipe (same result in exact arithmetic,
float64 reference values unchanged): max-shifting also for ``c0``, the
refinement pass, the partial sort, and ``c0`` normalised as
$y = t / \sum t$ like ``c1``/``c2`` (the sum is 1 up to rounding), so float32
outputs sum to 1 even for large ``n`` and large ``|z|``. Worst float32 error
against a float64 solve: ~2e-7 for rows of up to 16384 entries.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jax.typing import ArrayLike

from softjax._src.kernels import row_top_k
from softjax._src.kernels.logspace import log_or_neg_inf
from softjax._src.kernels.vma import vary_like
from softjax._src.validation import SOFT_MODES, ensure_float, validate_mode

# Exponent alpha of y ∝ (z - θ)_+^alpha for each sparse mode (q - 1, q = p/(p-1)).
_ALPHA = {"c0": 1, "c1": 2, "c2": 3}


# Partial sort for long rows (see the module docstring): XLA's CPU sort handles
# about 4e6 elements/s; its top-k of 64 entries is ~13x faster, of n/4 ~4x.


def _prefix_sizes(n: int) -> tuple[int, ...]:
    """Prefix lengths tried in turn (each at most n/4) before the full sort."""
    first = max(64, n // 16)
    return tuple(p for p in (first, 4 * first) if 4 * p <= n)


def _pick(u: jax.Array, theta_k: jax.Array, support: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(θ_K, K)`` with ``K = #{k : support_k}`` (a count, not an argmax), keepdims."""
    # θ >= u_1 - 1 (the largest entry alone has (u_1 - θ)^alpha <= 1), so no
    # entry at or below u_1 - 1 is in the support. Masking them keeps the
    # count exact whatever their candidates hold: far below the maximum the
    # prefix sums of cubes overflow in float32 (|z| / softness ~ 1e13), and
    # inf - inf comes out NaN or ±inf depending on how XLA fuses the sums.
    support = support & (u > u[..., :1] - 1.0)
    count = jnp.sum(support, axis=-1, keepdims=True)
    return jnp.take_along_axis(theta_k, jnp.maximum(count - 1, 0), axis=-1), count


def _threshold_c0(u: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Sort-based Euclidean projection: θ = (C_K - 1) / K.
    c = jnp.cumsum(u, axis=-1)
    theta_k = (c - 1.0) / k
    return _pick(u, theta_k, 1.0 / k + u - c / k > 0)


def _threshold_c1(u: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Smaller root of k θ² - 2 S_k θ + Q_k - 1 = 0 for each candidate support.
    s = jnp.cumsum(u, axis=-1)
    q = jnp.cumsum(u * u, axis=-1)
    d = s * s - k * (q - 1.0)
    theta_k = (s - jnp.sqrt(jnp.maximum(d, 0.0))) / k
    return _pick(u, theta_k, u > theta_k)


def _threshold_c2(u: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Σ_{i≤k} (u_i - θ)^3 = 1 as a depressed cubic in v = θ - c (c the mean),
    # v^3 + P v + Q = 0 with P >= 0: one real root. With w = |Q|^(1/3) and
    # m = P / w² it is v = -sign(Q) w y, where y^3 + m y = 1.
    s = jnp.cumsum(u, axis=-1)
    q = jnp.cumsum(u * u, axis=-1)
    t = jnp.cumsum(u * u * u, axis=-1)
    c = s / k
    # P comes from cancelling prefix sums: for a (nearly) tied prefix, always
    # k = 1 in the refinement pass, it is pure rounding noise or carries a
    # large relative error. Under jit XLA may recompute it separately in
    # several fused kernels with different rounding (FMA contraction), so
    # each use below can see a different value. The formulas are therefore
    # chosen so that an error in P moves the root only as much as the root
    # truly depends on P: never by a product of factors P^(1/2) P^(-1/2)
    # that cancel only for equal copies, never by a 0 * inf = NaN (a NaN
    # candidate inside the support shrinks the count K and picks a wrong
    # threshold), and both branches are valid on both sides of the switch.
    mu2 = jnp.maximum(q - 2.0 * c * s + k * c * c, 0.0)  # a sum of squares
    mu3 = t - 3.0 * c * q + 3.0 * c * c * s - k * c * c * c
    p = 3.0 * mu2 / k
    qc = (1.0 - mu3) / k
    tiny = jnp.finfo(u.dtype).tiny
    w = jnp.cbrt(jnp.abs(qc))
    w2 = w * w
    # m <= 1: Cardano's formula through its non-cancelling cube root,
    # y = b - m / (3 b) with b = 1 + O(m³): a relative error e in m moves y
    # by about e m / 3, as much as the true root moves.
    m = jnp.minimum(p, w2) / jnp.maximum(w2, tiny)
    b = jnp.cbrt(0.5 + jnp.sqrt(0.25 + m * m * m / 27.0))
    v_cardano = w * (b - m / (3.0 * b))
    # m > 1: hyperbolic form 2 r sinh(asinh(a) / 3) with r = sqrt(P / 3) and
    # a = 3|Q| / (2 P r) = (3√3/2) (w² / P)^(3/2) <= 3√3/2.
    p_h = jnp.maximum(p, jnp.maximum(w2, tiny))
    ratio = w2 / p_h
    a = (1.5 * 3.0**0.5) * ratio * jnp.sqrt(ratio)
    v_hyperbolic = 2.0 * jnp.sqrt(p_h / 3.0) * jnp.sinh(jnp.arcsinh(a) / 3.0)
    theta_k = c - jnp.sign(qc) * jnp.where(p <= w2, v_cardano, v_hyperbolic)
    return _pick(u, theta_k, u > theta_k)


_THRESHOLDS = {"c0": _threshold_c0, "c1": _threshold_c1, "c2": _threshold_c2}


def _solve_sorted(u: jax.Array, mode: str) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Threshold ``θ' + δ`` from descending values ``u`` (max-shifted), and the support size.

    ``u`` may be a prefix of the sorted row: the result is exact whenever the
    returned support size is smaller than the prefix length.
    """
    threshold = _THRESHOLDS[mode]
    k = jnp.arange(1, u.shape[-1] + 1, dtype=u.dtype)
    theta, count = threshold(u, k)  # θ' = θ - max(z) < 0
    # One refinement pass in coordinates shifted by θ': near the support the
    # shifted values are small and non-negative, so the prefix sums lose no
    # digits, and z' - θ' is exact (Sterbenz) for entries close to θ'. The
    # correction then moves every gap by the same tiny, accurately known amount.
    # float32 error drops from ~1e-4 to ~1e-7 for n ~ 1e4 near-tied rows.
    fix, count_fix = threshold(u - theta, k)
    return theta, fix, jnp.maximum(count, count_fix)


# Rows of this length or more first try Newton's method (no sort).
NEWTON_MIN_N = 128
_NEWTON_STEPS = 40


class _NewtonState(NamedTuple):
    theta: jax.Array  # (..., 1) current threshold θ'
    size: jax.Array  # (..., 1) support size at theta
    done: jax.Array  # (..., 1) converged: support unchanged and step at rounding level
    step: jax.Array  # () iterations taken


def _newton_thresholds(zs: jax.Array, mode: str) -> tuple[jax.Array, jax.Array]:
    r"""``(θ', ok)``: the threshold of every max-shifted row by Newton's method, and whether all converged.

    $f(\theta) = \sum_i (z_i - \theta)_+^\alpha - 1$ is convex and decreasing,
    and $f(-1) \ge 0$ (the maximum alone contributes 1), so Newton's
    iterates from $-1$ rise monotonically to the root without overshooting;
    each costs O(n) and no sort (8-10 iterations on NeuralSort's 256-entry
    windows). A row counts as converged once an iteration keeps its
    support and moves the threshold by at most a few ulps.
    """
    alpha = _ALPHA[mode]
    tol = 16 * jnp.finfo(zs.dtype).eps

    def count_above(theta):
        return jnp.sum(zs > theta, axis=-1, keepdims=True)

    def update(state: _NewtonState) -> _NewtonState:
        g = jnp.maximum(zs - state.theta, 0.0)
        w = (g > 0).astype(g.dtype) if alpha == 1 else g if alpha == 2 else g * g
        f = jnp.sum(w * g, axis=-1, keepdims=True) - 1.0
        slope = alpha * jnp.sum(w, axis=-1, keepdims=True)
        step = f / jnp.where(slope > 0, slope, 1.0)
        theta = jnp.where(state.done, state.theta, state.theta + step)
        size = count_above(theta)
        settled = (size == state.size) & (jnp.abs(step) <= tol)
        # A NaN row stays NaN (as the sorted recipe leaves it); it must not hold the loop.
        done = state.done | settled | jnp.isnan(theta)
        return _NewtonState(theta, size, done, state.step + 1)

    theta0 = jnp.zeros_like(zs[..., :1]) - 1.0
    start = _NewtonState(theta0, count_above(theta0), jnp.zeros(theta0.shape, bool), jnp.zeros((), jnp.int32))
    final = jax.lax.while_loop(
        lambda s: jnp.any(~s.done) & (s.step < _NEWTON_STEPS), update, vary_like(start, zs)
    )
    return final.theta, jnp.all(final.done)


def _sort_descending(zs: jax.Array) -> jax.Array:
    return -jnp.sort(-zs, axis=-1)


def _thresholds(zs: jax.Array, mode: str) -> tuple[jax.Array, jax.Array]:
    """``(θ', fix)`` of every row of the max-shifted ``zs`` (keepdims)."""

    def solve(prefixes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
        if not prefixes:
            return _solve_sorted(_sort_descending(zs), mode)[:2]
        theta, fix, count = _solve_sorted(row_top_k.top_k(zs, prefixes[0])[0], mode)
        # Exact unless a support may extend past the prefix (any row of the
        # batch): then the next longer prefix, finally the full sort.
        return jax.lax.cond(
            jnp.any(count >= prefixes[0]),
            lambda: solve(prefixes[1:]),
            lambda: (theta, fix),
        )

    n = zs.shape[-1]
    if n < NEWTON_MIN_N:
        return solve(_prefix_sizes(n))
    theta, converged = _newton_thresholds(zs, mode)
    return jax.lax.cond(converged, lambda: (theta, jnp.zeros_like(theta)), lambda: solve(_prefix_sizes(n)))


@functools.cache
def _batch_folding_thresholds(mode: str):
    # Under vmap a lax.cond with a batched predicate runs both branches (the
    # full sort always); the solver already treats every leading axis as a
    # batch, so a vmapped axis is folded in and the cond stays one scalar test.
    @custom_vmap
    def thresholds(zs):
        return _thresholds(zs, mode)

    @thresholds.def_vmap
    def _fold(axis_size, in_batched, zs):
        return thresholds(zs), (True, True)

    return thresholds


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _gaps(z: jax.Array, mode: str) -> jax.Array:
    """Gaps ``t = (z - θ)_+`` with ``θ`` such that ``Σ t^alpha = 1`` (last axis)."""
    zs = z - jnp.max(z, axis=-1, keepdims=True)
    theta, fix = _batch_folding_thresholds(mode)(jax.lax.stop_gradient(zs))
    return jnp.maximum((zs - theta) - fix, 0.0)


@_gaps.defjvp
def _gaps_jvp(mode: str, primals: tuple[jax.Array], tangents: tuple[jax.Array]):
    (z,), (dz,) = primals, tangents
    t = _gaps(z, mode)  # the custom_jvp itself, so this rule is differentiable again
    support = t > 0
    alpha = _ALPHA[mode]
    # w = t^(alpha-1) on the support (t = 0 off it, so no mask needed for alpha > 1).
    w = support.astype(t.dtype) if alpha == 1 else t if alpha == 2 else t * t
    w_sum = jnp.sum(w, axis=-1, keepdims=True)
    ok = w_sum > 0  # always true for finite rows (the max has t > 0); guard anyway
    dtheta = jnp.where(ok, jnp.sum(w * dz, axis=-1, keepdims=True) / jnp.where(ok, w_sum, 1.0), 0.0)
    return t, jnp.where(support, dz - dtheta, 0.0)


def sparse_threshold(z: jax.Array, mode: str) -> jax.Array:
    """The threshold ``θ`` of :func:`project_simplex` in a sparse mode, keepdims, detached.

    Entries with ``z <= θ`` (up to rounding) get probability 0.
    """
    zs = jax.lax.stop_gradient(z - jnp.max(z, axis=-1, keepdims=True))
    theta, fix = _batch_folding_thresholds(mode)(zs)
    return jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True)) + theta + fix


def project_simplex(z: ArrayLike, mode: str, *, log: bool = False) -> jax.Array:
    r"""Project each row of ``z`` (last axis) onto the probability simplex.

    Computes $y = \operatorname{argmax}_{y \in \Delta} \langle z, y\rangle - \Omega(y)$:

    * smooth: $\Omega = \sum y\log y$, $y = \operatorname{softmax}(z)$;
    * c0: $\Omega = \tfrac12\sum y^2$, $y = (z-\theta)_+$ (Euclidean projection, sparse, C0);
    * c1: $\Omega = \tfrac23\sum y^{3/2}$, $y = (z-\theta)_+^2$ (p = 3/2, sparse, C1);
    * c2: $\Omega = \tfrac34\sum y^{4/3}$, $y = (z-\theta)_+^3$ (p = 4/3, sparse, C2);

    with the threshold $\theta$ chosen so that $\sum_i y_i = 1$.

    Args:
        z: array of shape ``(..., n)``, already divided by the softness;
            leading axes are batch axes. Integers are promoted to the default
            float; float32 stays float32.
        mode: ``"smooth"``, ``"c0"``, ``"c1"`` or ``"c2"``.
        log: if ``True`` return log-probabilities: ``log_softmax`` for smooth
            (never ``-inf`` for finite ``z``), $\log y$ for the sparse modes
            with ``-inf`` at exact zeros (their gradient is 0, never NaN).

    Returns:
        Array of shape ``(..., n)``, non-negative rows summing to 1 (or their
        logs). A row containing NaN is all NaN; ``-inf`` entries get
        probability 0.

    Raises:
        ValueError: ``"Invalid mode: ..."`` for any other ``mode``, or a 0-d ``z``.

    Examples:
        >>> from softjax._src.kernels.simplex import project_simplex
        >>> z = jnp.array([0.3, -0.2, 0.25, 0.1, -1.0]) / 0.2
        >>> project_simplex(z, "c0")
        Array([0.625, 0.   , 0.375, 0.   , 0.   ], dtype=float32)
        >>> project_simplex(z, "c0", log=True)
        Array([-0.47000363,        -inf, -0.98082924,        -inf,        -inf],      dtype=float32)
    """
    validate_mode(mode, SOFT_MODES)
    z = ensure_float(z)
    if z.ndim == 0:
        raise ValueError("z must have at least one axis (the simplex axis is the last one), got a scalar")
    if z.shape[-1] == 0:
        return z
    if mode == "smooth":
        return jax.nn.log_softmax(z, axis=-1) if log else jax.nn.softmax(z, axis=-1)
    alpha = _ALPHA[mode]
    t = _gaps(z, mode)
    t_pow = t if alpha == 1 else t * t if alpha == 2 else t * t * t
    total = jnp.sum(t_pow, axis=-1, keepdims=True)  # = 1 up to rounding; keep the division
    if log:
        return alpha * log_or_neg_inf(t) - jnp.log(total)
    return t_pow / total
