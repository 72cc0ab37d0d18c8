r"""Soft bitonic sorting network (Petersen et al. 2021/2022), on the last axis.

A bitonic network on $N = 2^m$ wires has $L = m(m+1)/2$ layers; in each layer
every position $i$ is paired with $p(i) = i \oplus d$ and receives the soft
minimum or the soft maximum of the pair. Each pair shares one *swap weight*

$$w = S(d_{\min}), \qquad d_{\min} = x_{\text{min receiver}} - x_{\text{max receiver}},$$

and both positions update as $x_i \leftarrow (1-w)\,x_i + w\,x_{p(i)}$. The
layer is therefore a symmetric doubly stochastic matrix $M_l$, and the soft
permutation matrix is $P = M_L \cdots M_1$ (rows = sorted positions, ascending;
columns = input elements). ``step`` is the soft step $S$ with $S(0) = 1/2$ and
$S(-t) = 1 - S(t)$; computing $w$ once per pair makes mass conservation exact.

Implementation notes (why the code looks the way it does):

* **Padding**: a length ``n`` that is not a power
  of two is padded to $N$ with slots that act as exact $+\infty$: every
  comparator touching a padded slot is *hard* (the padding always becomes the
  maximum), so padding never mixes with real elements, ends in the tail
  positions, and $P_{[:n, :n]}$ is doubly stochastic without renormalisation.
  Where the padding goes is data independent, so these comparators are
  resolved once, in NumPy, into a static per-layer code.
* **Cheap derivatives**: the Jacobian of a layer is again a pair-mixing layer,
  $\partial x'_i/\partial x_{p(i)} = a := w + d\,S'(d)$, so the values pass
  has a ``custom_jvp`` whose tangent pass is one mixing per layer (reverse mode
  transposes it into one mixing per layer as well). Forward mode, reverse mode
  and higher orders all work; the rule is differentiable plain JAX. Values
  closed over by ``step`` (e.g. a traced softness) are hoisted with
  ``jax.closure_convert`` so their derivatives are exact as well.
* **Rows without the N x N matrix**: a row of $P$ is
  $e_r^\top M_L \cdots M_1$; since each $M_l$ is symmetric this is the same
  pair mixing applied to row vectors, in reverse layer order, with the weights
  recorded by the values pass. ``k`` rows cost $O(k N \log^2 N)$ time and memory.
* Layers run in ``lax.scan`` over tiny per-layer arrays, so compile time
  hardly grows with $N$. The state is kept as the (lower, upper) wires of the
  current layer's pairs, so a layer is elementwise on $N/2$ pairs (one step
  evaluation per comparator); re-pairing between layers is a static
  permutation chosen by ``lax.switch``, which has no residuals under autodiff.

Not permutation-equivariant: the network compares fixed wire
positions, so permuting the input changes the soft outputs beyond reordering
them (e.g. the soft argmax of ``[0.2, 1.7, -0.5, 0.9, 0.3]`` and of its
reverse differ by up to 0.21 at softness 0.3, standardized). Inherent to
sorting networks.

Over-smoothing with depth: every value passes through
$L = \log_2 N(\log_2 N + 1)/2$ soft comparators, so at a fixed softness the
output contracts towards the mean as $n$ grows (standardized standard-normal
data, n = 1024, in [-3.1, 3.4]: softness 0.1 sorts it into [-0.038, -0.009],
softness 0.01 into [-2.76, 3.12]). Softness must shrink with the depth.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from softjax._src.kernels.vma import vary_like

Step = Callable[[jax.Array], jax.Array]

# Comparator codes of padded networks (per pair, per layer).
_NO_SWAP, _SWAP, _SOFT = 0, 1, 2
# With more propagated rows than this, reverse mode stores one row state per
# segment of ~sqrt(L) layers (and recomputes inside it) instead of one per
# layer; up to here the stored rows cost about as much as the values pass's own
# per-layer records, so recomputing would only cost time.
_NESTED_CHECKPOINT_ROWS = 4


class _Schedule(NamedTuple):
    """Static description of the network for one length ``n``.

    Between layers the state is kept in the *pair layout* of the current layer
    (shift k, pairs i and i + 2**k): two arrays ``(lo, hi)`` of shape (..., N/2)
    with the lower / upper wire of every pair, so a layer is elementwise. Pair
    ``t`` of layer k holds the wires whose index, rotated left by
    ``m - 1 - k`` bits (m = log2 N), is ``t`` / ``t + N/2``. Consecutive layers
    of a phase (k -> k - 1) are then re-paired by one fixed perfect shuffle; only
    the ``m - 1`` phase starts need a gather. (Two arrays rather than one
    stacked array: XLA:CPU fuses the layer far better.)
    """

    n: int
    size: int  # N
    shift: np.ndarray  # (L,) int32: layer l pairs wires i and i + 2**shift
    block: np.ndarray  # (L,) int32: 2**(phase + 1), the bit that sets the direction
    code: np.ndarray | None  # (L, N/2) int8 pair codes, None when n == N


def network_size(n: int) -> int:
    """$N = 2^{\\lceil \\log_2 n \\rceil}$, at least 2 (the padded network size)."""
    if n < 1:
        raise ValueError(f"sorting networks need at least one element, got n={n}")
    return max(2, 1 << (n - 1).bit_length())


def _rotl(j, r, m: int):
    """Rotate the m-bit integers ``j`` left by ``r`` in [0, m) (NumPy or JAX)."""
    mask = (1 << m) - 1
    if isinstance(j, np.ndarray):
        return ((j << r) | (j >> (m - r))) & mask
    return (jnp.left_shift(j, r) | jnp.right_shift(j, m - r)) & mask


def _lower_wires(size: int, shift, xp=np):
    """Lower wire of every pair of a layer with the given shift, in pair order."""
    m = size.bit_length() - 1
    return _rotl(xp.arange(size // 2, dtype=np.int32), (shift + 1) % m, m)


def _padding_codes(n: int, size: int, shift, block) -> np.ndarray:
    """Per-layer pair codes: padded slots act as +inf, so their comparators are hard."""
    pad = np.arange(size) >= n
    code = np.empty((len(shift), size // 2), np.int8)
    for layer, (k, b) in enumerate(zip(shift, block, strict=True)):
        lo = _lower_wires(size, int(k))
        hi = lo + (1 << int(k))
        ascending = (lo & b) == 0  # the lower wire receives the min
        pad_min = np.where(ascending, pad[lo], pad[hi])
        pad_max = np.where(ascending, pad[hi], pad[lo])
        swap = pad_min & ~pad_max  # the padding moves to the max receiver
        code[layer] = np.where(~pad_min & ~pad_max, _SOFT, np.where(swap, _SWAP, _NO_SWAP))
        pad_lo = pad[lo].copy()
        pad[lo] = np.where(swap, pad[hi], pad[lo])
        pad[hi] = np.where(swap, pad_lo, pad[hi])
    assert np.array_equal(pad, np.arange(size) >= n), "padding must end in the tail"
    return code


@functools.lru_cache(maxsize=64)
def _schedule(n: int) -> _Schedule:
    size = network_size(n)
    shifts, blocks = [], []
    for phase in range(size.bit_length() - 1):
        for sub in range(phase + 1):
            shifts.append(phase - sub)
            blocks.append(1 << (phase + 1))
    shift = np.asarray(shifts, np.int32)
    block = np.asarray(blocks, np.int32)
    code = None if n == size else _padding_codes(n, size, shift, block)
    return _Schedule(n, size, shift, block, code)


# Layout changes use reshape / stack / lax.split only: their transposes are
# again reshapes, slices and concatenations (strided or partial slices would
# transpose into zero-padding and additions, several times slower).


def _halves(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    lo, hi = lax.split(v, [v.shape[-1] // 2] * 2, axis=-1)
    return lo, hi


def _interleave(lo: jax.Array, hi: jax.Array) -> jax.Array:
    """(..., M), (..., M) -> (..., 2M) with lo at even and hi at odd positions."""
    return jnp.stack([lo, hi], axis=-1).reshape((*lo.shape[:-1], -1))


def _deinterleave(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Inverse of :func:`_interleave`."""
    even, odd = lax.split(v.reshape((*v.shape[:-1], -1, 2)), [1, 1], axis=-1)
    return even[..., 0], odd[..., 0]


def _to_pairs(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(..., N) wires -> pair layout of a shift-0 layer (the first and last)."""
    return _deinterleave(v)


def _from_pairs(lo: jax.Array, hi: jax.Array) -> jax.Array:
    """Inverse of :func:`_to_pairs`."""
    return _interleave(lo, hi)


@functools.partial(jax.checkpoint, static_argnums=(3, 4), prevent_cse=False)
def _repair(state, shift_from, shift_to, size: int, forward: bool):
    """Move the state from the pair layout of ``shift_from`` to that of ``shift_to``.

    A pure permutation: within a phase a perfect shuffle (``forward``, shift
    k -> k - 1) or unshuffle (the reverse), at phase starts a gather. The
    checkpoint makes autodiff recompute the gather indices instead of storing
    them for every layer.
    """
    m = size.bit_length() - 1

    def gather(lo, hi):
        # new[j] = old[rotl(j, shift_to - shift_from)] (see _Schedule).
        idx = _rotl(jnp.arange(size, dtype=jnp.int32), (shift_to - shift_from) % m, m)
        both = jnp.concatenate([lo, hi], axis=-1)
        return _halves(both.at[..., idx].get(mode="promise_in_bounds", unique_indices=True))

    if forward:
        regular = shift_to == shift_from - 1
        return lax.cond(regular, lambda lo, hi: _halves(_interleave(lo, hi)), gather, *state)
    regular = shift_to == shift_from + 1
    return lax.cond(regular, lambda lo, hi: _deinterleave(jnp.concatenate([lo, hi], axis=-1)), gather, *state)


def _pair_sign(shift, block, size: int, dtype) -> jax.Array:
    """(N/2,): +1 where the lower wire of the pair receives the min, else -1."""
    lower = _lower_wires(size, shift, jnp)
    return jnp.where((lower & block) == 0, 1, -1).astype(dtype)


def _mix(lo, hi, w):
    # Exact for w in {0, 1}: hard comparators neither round nor leak.
    return (1 - w) * lo + w * hi, (1 - w) * hi + w * lo


def _layer_xs(sched: _Schedule):
    """Per-layer scan inputs: previous shift, shift, direction bit, pair codes."""
    code = None if sched.code is None else jnp.asarray(sched.code)
    prev = np.concatenate([sched.shift[:1], sched.shift[:-1]])
    return (jnp.asarray(prev), jnp.asarray(sched.shift), jnp.asarray(sched.block), code)


def _sweep(x, step_c, consts, sched: _Schedule, record: tuple[str, ...]):
    """Values pass on padded ``x`` (..., N); records per-layer pair arrays.

    Record names: ``W`` swap weights $w$; ``A`` the tangent mixing coefficient
    $a = w + d\\,S'(d)$; ``G`` $= \\mathrm{sign}\\,S'(d)$, so that
    $\\dot w = G\\,(\\dot x_{lo} - \\dot x_{hi})$; ``D`` the pair differences
    $d$ (0 on hard comparators). Each is (L, ..., N/2).
    """
    size, dtype = sched.size, x.dtype
    want_deriv = "A" in record or "G" in record

    def body(state, layer):
        prev, shift, block, code = layer
        lo, hi = _repair(state, prev, shift, size, True)
        sign = _pair_sign(shift, block, size, dtype)
        d = sign * (lo - hi)  # min receiver minus max receiver
        if code is not None:
            soft = code == _SOFT
            d = jnp.where(soft, d, 0)  # keeps the step's derivative finite there
        if want_deriv:
            w, s1 = jax.jvp(lambda t: step_c(t, *consts), (d,), (jnp.ones_like(d),))
            s1 = s1.astype(dtype)
        else:
            w = step_c(d, *consts)
        w = w.astype(dtype)
        if code is not None:
            w = jnp.where(soft, w, (code == _SWAP).astype(dtype))
        rec = {"W": w, "D": d}
        if want_deriv:
            rec["A"] = w + d * s1
            rec["G"] = sign * s1 if code is None else jnp.where(soft, sign * s1, 0)
        return _mix(lo, hi, w), tuple(rec[name] for name in record)

    state, recorded = lax.scan(body, _to_pairs(x), _layer_xs(sched))
    return _from_pairs(*state), dict(zip(record, recorded, strict=True))


def _tangent_sweep(xt, res, step_c, consts, consts_t, sched: _Schedule, with_weights: bool):
    """Tangent pass of :func:`_sweep`: one pair mixing per layer, linear in the tangents."""
    size, dtype = sched.size, xt.dtype
    with_consts = consts_t is not None

    def body(state_t, layer):
        prev, shift, block, code, a, g, d = layer
        lo, hi = _repair(state_t, prev, shift, size, True)
        # lo + a (hi - lo): the transpose then needs only ``a``.
        new_lo, new_hi = lo + a * (hi - lo), hi + a * (lo - hi)
        wt = g * (lo - hi) if with_weights else None
        if with_consts:
            # Derivative of w with respect to the step's closed-over values.
            _, wc = jax.jvp(lambda *c: step_c(d, *c), tuple(consts), tuple(consts_t))
            wc = wc.astype(dtype)
            if code is not None:
                wc = jnp.where(code == _SOFT, wc, 0)
            e = _pair_sign(shift, block, size, dtype) * d * wc  # = w_c (lo - hi)
            new_lo, new_hi = new_lo - e, new_hi + e
            if with_weights:
                wt = wt + wc
        return (new_lo, new_hi), wt

    xs = (*_layer_xs(sched), res["A"], res.get("G"), res.get("D"))
    state_t, weights_t = lax.scan(body, _to_pairs(xt), xs)
    return _from_pairs(*state_t), weights_t


def _network(x: jax.Array, step: Step, sched: _Schedule, with_weights: bool):
    """Values (..., N) of padded ``x`` and, if asked, the (L, ..., N/2) weights."""
    # Specialised to the pair layout (..., N/2) on which every layer calls the step.
    # Inside shard_map the example must vary like x, or the traced step mixes
    # varying and unvarying operands (check_vma).
    pair_example = vary_like(jnp.zeros((*x.shape[:-1], sched.size // 2), x.dtype), x)
    step_c, const_list = jax.closure_convert(step, pair_example)
    consts = tuple(const_list)

    @jax.custom_jvp
    def net(x, consts):
        values, rec = _sweep(x, step_c, consts, sched, ("W",) if with_weights else ())
        return (values, rec["W"]) if with_weights else values

    def net_jvp(primals, tangents):
        x, consts = primals
        xt, consts_t = tangents
        if all(isinstance(t, SymbolicZero) for t in consts_t):
            consts_t = None
        else:
            consts_t = tuple(
                jnp.zeros(t.shape, t.dtype) if isinstance(t, SymbolicZero) else t for t in consts_t
            )
        if isinstance(xt, SymbolicZero):
            xt = jnp.zeros(x.shape, x.dtype)
        record: tuple[str, ...] = ("W", "A", "G") if with_weights else ("A",)
        record += ("D",) if consts_t is not None else ()
        values, rec = _sweep(x, step_c, consts, sched, record)
        values_t, weights_t = _tangent_sweep(xt, rec, step_c, consts, consts_t, sched, with_weights)
        if with_weights:
            return (values, rec["W"]), (values_t, weights_t)
        return values, values_t

    net.defjvp(net_jvp, symbolic_zeros=True)
    return net(x, consts)


def _pad(x: jax.Array, size: int) -> jax.Array:
    # The padded values are never read: their comparators are hard.
    n = x.shape[-1]
    return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, size - n)])


def _propagate_rows(coeffs: jax.Array, weights: jax.Array, sched: _Schedule) -> jax.Array:
    """``coeffs @ M_L ... M_1`` for row vectors ``coeffs`` (..., k, N).

    Each $M_l$ is symmetric, so this is the pair mixing of the values pass
    applied to the rows, in reverse layer order.
    """
    size = sched.size

    @functools.partial(jax.checkpoint, prevent_cse=False)
    def body(state, layer):
        w, shift, prev = layer
        lo, hi = state
        state = _mix(lo, hi, w[..., None, :])  # w broadcasts over the rows
        return _repair(state, shift, prev, size, False), None

    shift = jnp.asarray(sched.shift)
    prev = jnp.concatenate([shift[:1], shift[:-1]])
    layers = (weights, shift, prev)
    num_layers = len(sched.shift)
    state = _to_pairs(coeffs)
    if coeffs.shape[-2] <= _NESTED_CHECKPOINT_ROWS:
        state = lax.scan(body, state, layers, reverse=True)[0]
    else:
        # Nested checkpointing: keep one carry per segment of ~sqrt(L) layers
        # and recompute inside it. Identity layers (w = 0, no re-pairing: the
        # first layer has shift 0) pad the front.
        seg = math.isqrt(num_layers - 1) + 1
        n_seg = -(-num_layers // seg)
        extra = n_seg * seg - num_layers
        layers = jax.tree.map(
            lambda a: jnp.concatenate([jnp.zeros((extra, *a.shape[1:]), a.dtype), a]).reshape(
                (n_seg, seg, *a.shape[1:])
            ),
            layers,
        )

        @functools.partial(jax.checkpoint, prevent_cse=False)
        def segment(state, layers):
            return lax.scan(body, state, layers, reverse=True)[0], None

        state = lax.scan(segment, state, layers, reverse=True)[0]
    return _from_pairs(*state)


def soft_sort_values(x: jax.Array, step: Step) -> jax.Array:
    """Ascending soft-sorted values of ``x`` along the last axis, shape ``x.shape``.

    Computed by the network itself (not as $P x$); equal to $P x$ up to rounding.
    """
    n = x.shape[-1]
    sched = _schedule(n)
    return _network(_pad(x, sched.size), step, sched, with_weights=False)[..., :n]


def soft_permutation_combine(x: jax.Array, step: Step, coeffs: jax.Array) -> jax.Array:
    r"""$C P$: linear combinations of the rows of the soft permutation matrix.

    Args:
        x: (..., n) input.
        step: soft step $S$.
        coeffs: (..., k, n) coefficient rows $C$ (broadcast against ``x``'s
            batch dims); row $j$ of $C$ weights the sorted positions.

    Returns:
        (..., k, n): $\sum_j C_{\cdot j} P_{j\cdot}$, computed in
        $O(k N \log^2 N)$ time and memory without forming $P$.
    """
    n = x.shape[-1]
    sched = _schedule(n)
    _, weights = _network(_pad(x, sched.size), step, sched, with_weights=True)
    batch = x.shape[:-1]
    coeffs = jnp.asarray(coeffs, x.dtype)
    # The rows scan mixes constant coefficients with per-shard weights (shard_map).
    coeffs = vary_like(jnp.broadcast_to(coeffs, batch + coeffs.shape[-2:]), x)
    rows = _propagate_rows(_pad(coeffs, sched.size), weights, sched)
    return rows[..., :n]


def soft_permutation_rows(x: jax.Array, step: Step, rows) -> jax.Array:
    """Rows ``rows`` (1-D ints, may be traced) of the ascending soft permutation.

    Returns (..., len(rows), n); row r is the distribution over input elements
    of the soft r-th smallest value.
    """
    n = x.shape[-1]
    rows = jnp.asarray(rows)
    return soft_permutation_combine(x, step, jax.nn.one_hot(rows, n, dtype=x.dtype))


def soft_permutation(x: jax.Array, step: Step) -> jax.Array:
    """Full ascending soft permutation matrix (..., n, n), doubly stochastic.

    Entry ``[..., r, j]`` is the weight of input element ``j`` in sorted
    position ``r``; ``soft_sort_values(x) == P @ x`` up to rounding.
    """
    n = x.shape[-1]
    return soft_permutation_combine(x, step, jnp.eye(n, dtype=x.dtype))
