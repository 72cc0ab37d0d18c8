r"""Two-sided exponentially decaying sums over sorted anchors, O(n) memory.

SoftSort (Prillo & Eisenschlos 2020) with the entropic (``"smooth"``)
projection has rows $\operatorname{softmax}_j(-|a_r - \hat x_j| / s)$ around
anchors $a = \operatorname{sort}(\hat x)$. In sorted order the elements *are*
the anchors, so every value output reduces to the sums

$$E_r = \sum_j e^{-|a_r - a_j| / s}\, g_j = P_r + S_r$$

for ascending $a_0 \le \dots \le a_{n-1}$ and weights $g$, split into

$$P_r = \sum_{j \le r} e^{-(a_r - a_j)/s} g_j = d_r P_{r-1} + g_r, \qquad
S_r = \sum_{j > r} e^{-(a_j - a_r)/s} g_j = d_{r+1} (g_{r+1} + S_{r+1}),$$

with $d_r = e^{-(a_r - a_{r-1})/s} \in [0, 1]$: linear recurrences whose
factors never exceed one. With $g = 1$, $E_r \ge 1$ is the softmax
normaliser of row $r$.

Evaluation (blocked, no sequential loop): the anchors are cut into blocks of
``BLOCK``; inside a block the sums are one small matrix product with factors
$e^{-(a_{\max(i,j)} - a_{\min(i,j)})/s}$ (by index, so the exponent is never
positive); across blocks the recurrences only need the prefix sum at every
block's end and the suffix sum at every block's start, which are the same
one-sided problem on ``n / BLOCK`` anchors (solved recursively, depth
$\log_{B} n$), carried into each element by one more factor $\le 1$. That is
O(n B) work, O(n B) memory, a fixed handful of operations per level (fast to
compile, unlike ``lax.associative_scan``'s $2 \log_2 n$ levels of strided
slices: ~4x longer compiles for the same runtime), and plain JAX ops, so
reverse and forward mode, higher orders and ``vmap`` come from autodiff.

No ``exp`` of a positive argument appears: no overflow; ties give factor
exactly 1, far-apart anchors underflow to 0 as they should. Derivatives are
those of the sorted-order formula: at tied anchors, the one-sided derivative
along tangents that keep the ties' index order (an ``|a_r - a_j|`` would
instead be differentiated as 0 there).

A pure math kernel: arrays in, arrays out; the caller sorts, gathers and
divides by the normaliser.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Block length: O(n B) exps and memory, ~log_B(n) levels. 8 and 16 run equally fast on CPU
# (value+grad, n = 16384); 8 needs 40% less memory.
BLOCK = 8


def _factors(a: jax.Array, softness, lower: bool) -> jax.Array:
    """``(..., b, b)`` factors ``exp(-(a_max(i,j) - a_min(i,j)) / s)`` of ascending ``(..., b)``.

    ``lower``: zero above the diagonal (only ``j <= i``).
    """
    b = a.shape[-1]
    diff = a[..., :, None] - a[..., None, :]  # a_i - a_j, >= 0 for j <= i
    below = jnp.arange(b)[:, None] >= jnp.arange(b)[None, :]
    if lower:
        return jnp.exp(jnp.where(below, -diff / softness, -jnp.inf))
    return jnp.exp(-jnp.where(below, diff, -diff) / softness)


def _blocks(a: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(..., m, B)`` anchors and ``(..., k, m, B)`` weights, padded past ``n``.

    Padding repeats the last anchor (still ascending) with weight 0, so it
    adds nothing to the sums of real anchors.
    """
    n = a.shape[-1]
    m = -(-n // BLOCK)
    extra = m * BLOCK - n
    if extra:
        a = jnp.concatenate([a, jnp.broadcast_to(a[..., -1:], (*a.shape[:-1], extra))], axis=-1)
        g = jnp.concatenate([g, jnp.zeros((*g.shape[:-1], extra), g.dtype)], axis=-1)
    return a.reshape(*a.shape[:-1], m, BLOCK), g.reshape(*g.shape[:-1], m, BLOCK)


def _unblock(x: jax.Array, n: int) -> jax.Array:
    return x.reshape(*x.shape[:-2], -1)[..., :n]


def _prefix_sums(a: jax.Array, g: jax.Array, softness) -> jax.Array:
    r"""$P_r = \sum_{j \le r} e^{-(a_r - a_j)/s} g_j$: ``a`` ``(..., n)`` ascending, ``g`` ``(..., k, n)``."""
    n = a.shape[-1]
    if n <= BLOCK:
        return jnp.einsum("...ij,...kj->...ki", _factors(a, softness, True), g)
    ab, gb = _blocks(a, g)
    local = jnp.einsum("...mij,...kmj->...kmi", _factors(ab, softness, True), gb)
    ends = ab[..., -1]
    # P at every block end: the same problem over the block ends.
    carry = _prefix_sums(ends, local[..., -1], softness)
    into = jnp.exp(-(ab[..., 1:, :] - ends[..., :-1, None]) / softness)  # a_i >= previous block's end
    rest = local[..., 1:, :] + into[..., None, :, :] * carry[..., :-1, None]
    return _unblock(jnp.concatenate([local[..., :1, :], rest], axis=-2), n)


def exp_decay_sums(anchors: jax.Array, weights: jax.Array, softness: jax.Array | float) -> jax.Array:
    r"""$E_r = \sum_j e^{-|a_r - a_j| / s}\, g_j$ for ascending anchors, in O(n) memory.

    Args:
        anchors: ``(..., n)`` values sorted ascending along the last axis
            (ties allowed). Not checked: unsorted input gives wrong sums.
        weights: ``(..., k, n)``, ``k`` weight vectors $g$ sharing the anchors
            (e.g. ones for the normaliser and the values to average).
        softness: ``s > 0``, a scalar.

    Returns:
        ``(..., k, n)``: entry ``[..., i, r]`` is $\sum_j e^{-|a_r - a_j|/s}\,
        g_{ij}$ (each term's factor in $[0, 1]$; the ``j = r`` term has
        factor 1).
    """
    n = anchors.shape[-1]
    if n <= BLOCK:
        return jnp.einsum("...ij,...kj->...ki", _factors(anchors, softness, False), weights)
    ab, gb = _blocks(anchors, weights)
    local = jnp.einsum("...mij,...kmj->...kmi", _factors(ab, softness, False), gb)  # within blocks
    ends, starts = ab[..., -1], ab[..., 0]
    # Prefix sums at block ends and suffix sums at block starts (a prefix sum over the
    # reversed, negated starts), stacked into one recursion.
    both = _prefix_sums(
        jnp.stack([ends, -starts[..., ::-1]]), jnp.stack([local[..., -1], local[..., ::-1, 0]]), softness
    )
    before, after = both[0][..., :-1, None], both[1][..., ::-1][..., 1:, None]
    left = jnp.exp(-(ab[..., 1:, :] - ends[..., :-1, None]) / softness)[..., None, :, :] * before
    right = jnp.exp(-(starts[..., 1:, None] - ab[..., :-1, :]) / softness)[..., None, :, :] * after
    zero = jnp.zeros_like(local[..., :1, :])
    out = local + jnp.concatenate([zero, left], axis=-2) + jnp.concatenate([right, zero], axis=-2)
    return _unblock(out, n)


__all__ = ["exp_decay_sums"]
