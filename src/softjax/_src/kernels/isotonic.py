r"""Non-increasing isotonic regression by pool-adjacent-violators (Blondel et al. 2020).

Given scores $\zeta$ and targets $\omega$, both sorted **descending** along the
last axis, every mode solves
$v = \arg\min_{v_1 \ge \dots \ge v_n} \sum_i \Psi^*(\zeta_i - v_i) - \omega_i v_i$,
whose solution is constant on consecutive blocks $B$; the block value $\gamma_B$
is the root of the block equation $\sum_B \psi(\zeta_i - \gamma) = \sum_B \omega_i$
with $\psi = \nabla\Psi^*$ (for ``smooth`` the equation is
$\sum_B e^{\zeta_i - \gamma} = \sum_B e^{\omega_i}$). :func:`isotonic_offsets`
returns $t = \zeta - \gamma$ per element.

The work is split in two:

* :func:`pav_blocks` finds the block structure. It is discrete (zero
  derivative), so it runs on ``stop_gradient`` values: one sequential
  pool-adjacent-violators pass over *all rows concatenated* (merges never cross
  a row start), in a single-lane ``lax.while_loop`` whose body only uses
  dynamic slices. XLA runs that loop in place at a few tens of ns per step.
  A batched loop (all rows advanced together, per-row gathers and scatters)
  partitions naturally but is 5-15x slower on CPU (every small gather from a
  large operand is split over threads), and a per-row ``vmap`` selects
  between old and new values of the whole state at every step (O(n^2)). So a
  ``custom_vmap`` rule folds any ``vmap`` axis into the rows, and a
  ``custom_partitioning`` rule tells XLA's partitioner that the pass is
  row-parallel: under ``jit`` with a sharded batch each device runs it on its
  own rows (nothing is gathered). Each merge is O(1) for ``c0``, ``smooth``
  and ``c2`` (sufficient statistics) and O(log n) for ``c1`` (binary search
  for the split inside the block, never a quadratic rescan), so the pass is
  O(n log n) at worst. ``c1``'s search reads moments of score ranges about a
  score inside the block (:mod:`softjax._src.kernels.local_moments`): sums
  taken over the whole row would carry its spread into every block equation.
* :func:`isotonic_offsets` recomputes every block's $\gamma$ from its members
  with per-row segment sums (O(n); batched scatters and gathers, so a sharded
  batch stays sharded), relative to the block's first score so that
  singleton blocks reproduce $\omega$ exactly. ``c0`` and ``smooth`` are plain
  differentiable JAX (their derivative is the block-wise Jacobian of Blondel et al. 2020);
  ``c1``/``c2`` use a ``custom_jvp`` whose rule is implicit differentiation of
  the block equation written with segment sums. Every rule is itself
  differentiable, so ``jvp``, ``jacfwd``, ``jacrev``, ``hessian`` and
  ``jacrev(grad)`` all work.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_batching import custom_vmap
from jax.experimental.custom_partitioning import custom_partitioning

from softjax._src.kernels import local_moments
from softjax._src.kernels.row_sharding import row_sharding
from softjax._src.kernels.vma import vary_like

ISOTONIC_MODES = ("smooth", "c0", "c1", "c2")


class _PavState(NamedTuple):
    """The pool-adjacent-violators loop: a stack of blocks, the top two in registers."""

    i: jax.Array  # next element to push
    n_blocks: jax.Array  # blocks on the stack
    rest: dict  # statistics of the blocks below the top two (arrays of length n)
    top: dict  # statistics of the top block
    second: dict  # statistics of the block below it
    viol: jax.Array  # the top two blocks violate the order: merge next


# --------------------------------------------------------------------------- #
# Closed-form block solvers (shared by the PAV pass and the final solve).
# --------------------------------------------------------------------------- #
def _psi(t: jax.Array, mode: str) -> jax.Array:
    """$\\nabla\\Psi^*$: the map from offsets $t$ to projected values."""
    if mode == "c1":
        return t * jnp.abs(t)
    if mode == "c2":
        return t * t * t
    return t


def _psi_inverse(y: jax.Array, mode: str) -> jax.Array:
    if mode == "c1":
        return jnp.sign(y) * jnp.sqrt(jnp.abs(y))
    if mode == "c2":
        return jnp.cbrt(y)
    return y


def _quadratic_root(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """The root of the increasing branch of $a u^2 + b u + c$ (derivative $\\ge 0$).

    Written without cancellation: $2c / (-b - \\sqrt{D})$ for $b > 0$, else
    $(-b + \\sqrt{D}) / (2a)$; a degenerate constant piece gives 0.
    """
    root_d = jnp.sqrt(jnp.maximum(b * b - 4.0 * a * c, 0.0))
    pos = b > 0
    den = jnp.where(pos, -b - root_d, 2.0 * a)
    num = jnp.where(pos, 2.0 * c, -b + root_d)
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def _cardano(p: jax.Array, q: jax.Array) -> jax.Array:
    """Real root of $v^3 + p v + q = 0$ for $p \\ge 0$ (hyperbolic Cardano form)."""
    dt = p.dtype
    tiny, eps = jnp.finfo(dt).tiny, jnp.finfo(dt).eps
    r = jnp.sqrt(jnp.maximum(p / 3.0, 0.0))
    use_h = p > eps * jnp.maximum(jnp.abs(q), 1.0)
    r_safe = jnp.where(use_h, r, 1.0)
    a = 3.0 * jnp.abs(q) / (2.0 * jnp.maximum(p, tiny) * r_safe)
    v_h = -jnp.sign(q) * 2.0 * r_safe * jnp.sinh(jnp.arcsinh(jnp.where(use_h, a, 0.0)) / 3.0)
    v_c = -jnp.cbrt(q)
    return jnp.where(use_h, v_h, v_c)


def _cubic_block_root(count, m1, m2, m3, w):
    """$u$ with $\\sum_B (e_i - u)^3 = w$, from the raw moments $m_k = \\sum e^k$."""
    c = m1 / count
    mu2 = jnp.maximum(m2 - c * m1, 0.0)
    mu3 = m3 - 3.0 * c * m2 + 2.0 * c * c * m1
    return c + _cardano(3.0 * mu2 / count, (w - mu3) / count)


# --------------------------------------------------------------------------- #
# Block structure: sequential PAV over concatenated rows.
# --------------------------------------------------------------------------- #
def _pav_flat(zeta: jax.Array, omega: jax.Array, n: int, mode: str):
    """PAV over the flat concatenation of rows of length ``n``.

    Returns ``(start, gamma)`` per element: the flat index of the first element
    of its block and the block value (the latter only as a starting point).
    """
    size = zeta.shape[0]
    dt = zeta.dtype
    g_single = zeta - _psi_inverse(omega, mode)
    if mode == "c1":
        # Moments of score ranges about an origin inside them, from per-level
        # half-block sums of v = -zeta (ascending): prefix sums over the row
        # would carry the rounding of the whole row's spread into every block.
        table = local_moments.build(-zeta.reshape(-1, n), 2)

    def at(arr, i):
        return lax.dynamic_index_in_dim(arr, i, keepdims=False)

    def put(arr, i, value):
        return lax.dynamic_update_index_in_dim(arr, value.astype(arr.dtype), i, 0)

    def c1_merge_gamma(first, stop, w_sum):
        # Block = flat [first, stop), row-local [a, b). gamma is the root of
        # G(gamma) = W - sum_B psi(zeta_i - gamma), increasing in gamma.
        row = first // n
        a, b = first - row * n, stop - row * n
        zeta_a = at(zeta, first)
        # Count and moments of zeta_a - zeta_i over the block (v_i - v_a).
        m0, m1, m2 = local_moments.moments(table, row, a, b - 1, -zeta_a)

        def about(zeta_o):  # sums of zeta_i - zeta_o and its square (shift within the block)
            d = zeta_a - zeta_o
            return m0 * d - m1, m2 - 2 * d * m1 + m0 * d * d

        def step(lohi):  # first j in [a, b) with G(zeta_j) < 0 (b if none)
            lo, hi = lohi
            j = (lo + hi) // 2
            zeta_j = at(zeta, row * n + j)
            # G(zeta_j) = Q_below - Q_above + W, Q over (j, b) and [a, j) of
            # (zeta_i - zeta_j)^2: Q_below is the block's total less Q_above.
            q_above = local_moments.moments(table, row, a, j - 1, -zeta_j)[2]
            neg = about(zeta_j)[1] - 2 * q_above + w_sum < 0
            return jnp.where(neg, lo, j + 1), jnp.where(neg, j, hi)

        # O(log |B|) steps; an empty range (a = b) costs nothing.
        k, _ = lax.while_loop(lambda lohi: lohi[0] < lohi[1], step, (a, b))
        # gamma = zeta_c + delta about c, the last score above gamma (or the
        # block's first). With sums S, Q of zeta_i - zeta_c above (hi) and
        # below (lo): G = (n_lo - n_hi) delta^2 + 2 (S_hi - S_lo) delta + Q_lo - Q_hi + W.
        c = jnp.maximum(k - 1, a)
        zeta_c = at(zeta, row * n + c)
        n_hi, s_hi, q_hi = local_moments.moments(table, row, a, k - 1, -zeta_c)
        s_hi = -s_hi  # the table's offsets are v_i - v_c = zeta_c - zeta_i
        s_all, q_all = about(zeta_c)
        n_lo, s_lo, q_lo = m0 - n_hi, s_all - s_hi, q_all - q_hi
        lin = 2 * (s_hi - s_lo)
        delta = _quadratic_root(n_lo - n_hi, lin, q_lo - q_hi + w_sum)
        return zeta_c + jnp.where((n_lo == n_hi) & (lin == 0), 0.0, delta)

    # Block statistics: per element for a singleton block, merged in `merge`.
    if mode == "c0":
        stats = {"s": zeta - omega, "c": jnp.ones(size, dt)}
    elif mode == "smooth":
        stats = {"lz": zeta, "lw": omega}
    elif mode == "c1":  # block moments come from the table
        stats = {"w": omega}
    else:  # c2: count and moments about the block's first score
        zero = jnp.zeros(size, dt)
        stats = {"c": jnp.ones(size, dt), "m1": zero, "m2": zero, "m3": zero, "w": omega}
    stats["g"] = g_single
    stats["start"] = jnp.arange(size, dtype=jnp.int32)

    def merge(x, y, stop):
        """Block x followed by block y (which ends before ``stop``)."""
        if mode == "c0":
            out = {"s": x["s"] + y["s"], "c": x["c"] + y["c"]}
            g = out["s"] / out["c"]
        elif mode == "smooth":
            out = {"lz": jnp.logaddexp(x["lz"], y["lz"]), "lw": jnp.logaddexp(x["lw"], y["lw"])}
            g = out["lz"] - out["lw"]
        elif mode == "c1":
            out = {"w": x["w"] + y["w"]}
            g = c1_merge_gamma(x["start"], stop, out["w"])
        else:  # shift y's moments to x's reference score, then Cardano
            r = at(zeta, x["start"])
            d = at(zeta, y["start"]) - r
            c = y["c"]
            out = {
                "c": x["c"] + c,
                "m1": x["m1"] + y["m1"] + c * d,
                "m2": x["m2"] + y["m2"] + 2 * d * y["m1"] + c * d * d,
                "m3": x["m3"] + y["m3"] + 3 * d * y["m2"] + 3 * d * d * y["m1"] + c * d * d * d,
                "w": x["w"] + y["w"],
            }
            g = r + _cubic_block_root(out["c"], out["m1"], out["m2"], out["m3"], out["w"])
        out["g"], out["start"] = g, x["start"]
        return out

    def violated(count, top, second):
        return (count >= 2) & (top["start"] % n != 0) & (second["g"] < top["g"])

    # The top two blocks live in registers (`top`, `second`); older blocks in
    # the arrays `rest`. Each step writes `second` to the slot after `rest`
    # (a no-op slot when merging) and only then reads `rest`: with every read
    # after the write, XLA updates the arrays in place instead of copying them.
    def body(carry: _PavState) -> _PavState:
        i, count, rest, top, second, viol = carry
        rest = {k: put(rest[k], jnp.maximum(count - 2, 0), second[k]) for k in rest}
        below = {k: at(rest[k], jnp.maximum(count - 3, 0)) for k in rest}
        ic = jnp.minimum(i, size - 1)
        single = {k: at(stats[k], ic) for k in stats}
        # (c1: when not merging, the block [start, start) is empty, its search free)
        merged = merge(second, top, jnp.where(viol, i, second["start"]))
        new_top = {k: jnp.where(viol, merged[k], single[k]) for k in stats}
        new_second = {k: jnp.where(viol, below[k], top[k]) for k in stats}
        i = jnp.where(viol, i, i + 1)
        count = jnp.where(viol, count - 1, count + 1)
        return _PavState(i, count, rest, new_top, new_second, violated(count, new_top, new_second))

    def cond(carry: _PavState):
        return (carry.i < size) | carry.viol

    zero_i = jnp.zeros((), jnp.int32)
    first = {k: at(stats[k], 0) for k in stats}
    rest = {k: jnp.zeros_like(stats[k]) for k in stats}
    # vary_like: inside shard_map the constant seeds must vary like the data.
    init = _PavState(i=zero_i, n_blocks=zero_i, rest=rest, top=first, second=first, viol=jnp.zeros((), bool))
    _, count, rest, top, second, _ = lax.while_loop(cond, body, vary_like(init, zeta, omega))
    starts, gammas = rest["start"], rest["g"]
    for k, reg in ((-2, second), (-1, top)):  # flush the registers
        starts = put(starts, jnp.maximum(count + k, 0), reg["start"])
        gammas = put(gammas, jnp.maximum(count + k, 0), reg["g"])
    # Per element: index of its block (blocks are contiguous, starts ascending).
    valid = jnp.arange(size) < count
    flags = jnp.zeros(size, jnp.int32).at[jnp.where(valid, starts, size)].set(1, mode="drop")
    block = jnp.cumsum(flags) - 1
    return starts[block], gammas[block]


def _rows_per_pass(rows: int, n: int, mode: str) -> int:
    """Rows one flat pass may hold: its int32 indices must stay in range.

    ``c1``'s moment table holds about ``n log2 n`` entries per row.
    """
    size = 1 << max(n - 1, 1).bit_length()
    per_row = size * max((size - 1).bit_length(), 1) if mode == "c1" else n
    return max(1, min(rows, (2**31 - 1) // per_row))


def _pav_rows(zeta: jax.Array, omega: jax.Array, mode: str):
    rows, n = zeta.shape
    chunk = _rows_per_pass(rows, n, mode)
    if chunk < rows:  # a batch beyond int32 indexing: one pass per slice of rows
        parts = [_pav_rows(zeta[r : r + chunk], omega[r : r + chunk], mode) for r in range(0, rows, chunk)]
        return tuple(jnp.concatenate(p) for p in zip(*parts, strict=True))
    start, gamma = _pav_flat(zeta.ravel(), omega.ravel(), n, mode)
    local = start.reshape(rows, n) - (jnp.arange(rows, dtype=jnp.int32) * n)[:, None]
    return local, gamma.reshape(rows, n)


def _partition_rows(mode, mesh, arg_shapes, result_shape):
    sharding = row_sharding(mesh, arg_shapes)
    lower = functools.partial(_pav_rows, mode=mode)
    return mesh, lower, (sharding, sharding), (sharding, sharding)


def _infer_rows(mode, mesh, arg_shapes, result_shape):
    sharding = row_sharding(mesh, arg_shapes)
    return sharding, sharding


def _make_pav(mode: str):
    # custom_partitioning: under jit with a sharded batch XLA's partitioner
    # cannot see that the sequential pass never mixes rows and would gather
    # the whole batch; this rule keeps the row axis sharded (the element axis
    # replicated). On one device and inside shard_map it is inlined.
    @custom_partitioning
    def pav_sharded(zeta, omega):
        return _pav_rows(zeta, omega, mode)

    pav_sharded.def_partition(
        partition=functools.partial(_partition_rows, mode),
        infer_sharding_from_operands=functools.partial(_infer_rows, mode),
        sharding_rule="r n, r n -> r n, r n",
        need_replication_factors=("n",),
    )

    @custom_vmap
    def pav(zeta, omega):
        return pav_sharded(zeta, omega)

    @pav.def_vmap
    def _pav_vmap(axis_size, in_batched, zeta, omega):
        # Fold the vmapped axis into the rows: a vmapped while_loop would select
        # between old and new values of the whole (rows, n) state at every step.
        zeta_b, omega_b = in_batched
        if not zeta_b:
            zeta = jnp.broadcast_to(zeta, (axis_size, *zeta.shape))
        if not omega_b:
            omega = jnp.broadcast_to(omega, (axis_size, *omega.shape))
        shape = zeta.shape
        out = pav(zeta.reshape((-1, shape[-1])), omega.reshape((-1, shape[-1])))
        return tuple(o.reshape(shape) for o in out), (True, True)

    return pav


_PAV = {mode: _make_pav(mode) for mode in ISOTONIC_MODES}


def pav_blocks(zeta: jax.Array, omega: jax.Array, mode: str):
    """Block structure of the isotonic problem (no derivative).

    Args:
        zeta: scores sorted descending along the last axis, shape ``(..., n)``.
        omega: targets sorted descending, same shape.
        mode: ``"smooth"``, ``"c0"``, ``"c1"`` or ``"c2"``.

    Returns:
        ``(start, gamma)``, each of shape ``(..., n)``: the index (within the
        row) of the first element of each element's block, and an approximate
        block value $\\gamma_B$ (used only as a starting point).
    """
    zeta, omega = lax.stop_gradient(zeta), lax.stop_gradient(omega)
    shape = zeta.shape
    n = shape[-1]
    start, gamma = _PAV[mode](zeta.reshape(-1, n), omega.reshape(-1, n))
    return start.reshape(shape), gamma.reshape(shape)


# --------------------------------------------------------------------------- #
# Differentiable block solve given the structure.
# --------------------------------------------------------------------------- #
def _segment_sum(x, ids):
    """Per-row block sums of ``(rows, n)`` arrays; ``ids`` = block start per element."""
    n = x.shape[-1]
    return jax.vmap(lambda v, i: jax.ops.segment_sum(v, i, n, indices_are_sorted=True))(x, ids)


def _gather(x, ids):
    return jnp.take_along_axis(x, ids, axis=-1, mode="promise_in_bounds")


def _blockwise(x, ids):
    """Block sums of ``x`` broadcast back to every member of the block."""
    return _gather(_segment_sum(x, ids), ids)


def _offsets_c0(zeta, omega, ids, first, count):
    # t = zeta - mean_B(zeta - omega), written relative to the block's first
    # score so that a singleton block gives exactly omega.
    e = zeta - first
    return e - _blockwise(e - omega, ids) / count


def _offsets_smooth(zeta, omega, ids):
    # t = zeta - LSE_B(zeta) + LSE_B(omega): block log-softmax plus LSE_B(omega).
    n = zeta.shape[-1]

    def block_lse(v):
        m = jax.vmap(lambda v, i: jax.ops.segment_max(v, i, n, indices_are_sorted=True))(
            lax.stop_gradient(v), ids
        )
        m = _gather(jnp.where(jnp.isfinite(m), m, 0.0), ids)
        return m, jnp.log(_blockwise(jnp.exp(v - m), ids))

    mz, lz = block_lse(zeta)
    mw, lw = block_lse(omega)
    return (zeta - mz) - lz + lw + mw


def _solve_pnorm(e, omega, u0, ids, count, mode):
    """Block roots $u$ of $\\sum_B \\psi(e_i - u) = \\sum_B \\omega_i$, starting near ``u0``."""
    w = _blockwise(omega, ids)
    if mode == "c2":
        d = e - u0  # moments about the starting point keep the cubic well scaled
        m = [_blockwise(d**k, ids) for k in (1, 2, 3)]
        return u0 + _cubic_block_root(count, m[0], m[1], m[2], w)
    u = u0
    for _ in range(2):  # the split of a piecewise-quadratic equation; 2nd pass is a safeguard
        d = e - u
        hi = (d >= 0).astype(e.dtype)
        n_hi = _blockwise(hi, ids)
        s_hi, s_all = _blockwise(d * hi, ids), _blockwise(d, ids)
        q_hi, q_all = _blockwise(d * d * hi, ids), _blockwise(d * d, ids)
        n_lo, s_lo, q_lo = count - n_hi, s_all - s_hi, q_all - q_hi
        # F(u + v) = sum_lo (v - d)^2 - sum_hi (v - d)^2 + W, increasing in v.
        a, b, c = n_lo - n_hi, 2.0 * (s_hi - s_lo), q_lo - q_hi + w
        u = u + jnp.where((a == 0) & (b == 0), 0.0, _quadratic_root(a, b, c))
    return u


def _make_pnorm_offsets(mode: str):
    dpsi = (lambda t: 2.0 * jnp.abs(t)) if mode == "c1" else (lambda t: 3.0 * t * t)

    @jax.custom_jvp
    def offsets(e, omega, u0, ids, count):
        u = _solve_pnorm(e, omega, lax.stop_gradient(u0), ids, count, mode)
        return e - u

    @offsets.defjvp
    def _offsets_jvp(primals, tangents):
        # Implicit differentiation of sum_B psi(e - u) = sum_B omega:
        # u' = (sum_B psi'(t) e' - sum_B omega') / sum_B psi'(t).
        e, omega, u0, ids, count = primals
        de, domega = tangents[0], tangents[1]
        t = offsets(e, omega, u0, ids, count)
        slope = dpsi(t)
        den = _blockwise(slope, ids)
        ok = den > 0
        num = _blockwise(slope * de - domega, ids)
        du = jnp.where(ok, num / jnp.where(ok, den, 1.0), _blockwise(de, ids) / count)
        return t, de - du

    return offsets


_PNORM_OFFSETS = {mode: _make_pnorm_offsets(mode) for mode in ("c1", "c2")}


def isotonic_offsets(zeta: jax.Array, omega: jax.Array, mode: str) -> jax.Array:
    r"""Offsets $t = \zeta - \gamma$ of the non-increasing isotonic solution.

    Args:
        zeta: scores sorted descending along the last axis, shape ``(..., n)``.
        omega: targets sorted descending, same shape.
        mode: ``"smooth"`` (block value $\mathrm{LSE}_B\zeta - \mathrm{LSE}_B\omega$),
            ``"c0"`` ($\mathrm{mean}_B(\zeta - \omega)$), ``"c1"`` (root of
            $\sum_B (\zeta - \gamma)|\zeta - \gamma| = \sum_B \omega$) or ``"c2"``
            (root of $\sum_B (\zeta - \gamma)^3 = \sum_B \omega$).

    Returns:
        $t$ with the shape of ``zeta``; the projection in sorted coordinates is
        $\psi(t)$ = $t$, $t$, $t|t|$, $t^3$ for smooth (a log), c0, c1, c2.
        Computation runs in the input dtype (the caller chooses the precision).
    """
    shape = zeta.shape
    n = shape[-1]
    if n == 0:
        return zeta
    start, gamma0 = pav_blocks(zeta, omega, mode)
    # Rows of (rows, n): every block sum below is a per-row segment sum, so a
    # batch sharded over devices is never gathered.
    ids = start.reshape(-1, n)
    z, w = zeta.reshape(-1, n), omega.reshape(-1, n)
    first = _gather(z, ids)
    if mode == "smooth":
        t = _offsets_smooth(z, w, ids)
    else:
        count = _blockwise(jnp.ones_like(z), ids)
        if mode == "c0":
            t = _offsets_c0(z, w, ids, first, count)
        else:
            u0 = gamma0.reshape(-1, n) - lax.stop_gradient(first)
            t = _PNORM_OFFSETS[mode](z - first, w, u0, ids, count)
    return t.reshape(shape)


__all__ = ["ISOTONIC_MODES", "isotonic_offsets", "pav_blocks"]
