r"""``method="sorting_network"``: soft bitonic sorting network (Petersen et al. 2021/2022).

Every operator reads from one soft permutation $P$ (ascending; rows = sorted
positions, columns = input elements) produced by a bitonic network of soft
compare-and-swap units $\sigma = S(a - b)$, with $S$ the operator's
``sigmoidal(·, softness, mode)``. See :mod:`softjax._src.kernels.sorting_network`.

* ``sort``: the values that come out of the network (not $P x$), mapped back
  with ``unsquash``; ``gated`` is ignored. ``max``, ``quantile``
  and ``top_k`` values read off this sort; ``top_k``'s index is ``None``.
* ``argmax`` / ``quantile_rows``: only the needed rows of $P$,
  propagated backwards through the recorded layers: $O(k N \log^2 N)$ time and
  memory instead of the $O(N^2 \log^2 N)$ of a materialised matrix.
* ``argsort``: the full matrix (rows propagated the same way).
* ``rank``: $r_i = \sum_j (j+1) P_{ji}$, i.e. the single row combination
  $(1, \dots, n)\,P$, so also without the matrix. Earlier implementations
  renormalise the rows of $P^\top$ (floor $10^{-10}$); with the padding fix below the column
  sums of $P$ are exactly 1 (up to rounding), so that step is the identity and
  is skipped. Ranks lie in $[1, n]$ and sum to $n(n+1)/2$.

Deliberate deviation from the prior implementation:
lengths that are not a power of two are padded with slots that act as exact
$+\infty$ (their comparators are hard), so the padding never leaks into the
results: ``sort([42.])`` is exactly 42, ``max`` never exceeds the largest
input, and $P_{[:n,:n]}$ is doubly stochastic without renormalisation. The
prior reference values for this method (n = 5) therefore change: for
``x = [0.2, 1.7, -0.5, 0.9, 0.3]`` (smooth, standardized) ``sort`` is
``[0.440371, 0.440579, 0.495519, 0.503976, 0.654254]`` at softness 0.3 (the
prior, leaky ``[0.710683, ..., 1.361670]`` was pulled up by the padding) and
``[-0.235216, 0.180146, 0.354156, 0.779442, 1.522425]`` at softness 0.1.

Caveats (inherent to sorting networks, documented rather than fixed):

* Not permutation-equivariant: the network compares fixed wire
  positions, so permuting the input changes the soft outputs, not just their
  order.
* Over-smoothing with depth: each value passes through
  $\log_2 N(\log_2 N + 1)/2$ soft comparators, so at a fixed softness the
  outputs contract towards the mean as n grows (n = 1024, softness 0.1 maps
  standard-normal data to a range of width ~0.03). Softness must shrink with
  the depth of the network.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from softjax._src.kernels import sorting_network as kernel
from softjax._src.kernels.logspace import log_or_neg_inf
from softjax._src.steps import sigmoidal


def _step(softness, mode):
    return functools.partial(sigmoidal, softness=softness, mode=mode)


# The network's scans and custom_jvp are traced afresh for every new step
# function, so eager (op-by-op) calls would re-compile them on each call
# (0.2-0.5 s); these jitted entry points, keyed on the static mode, are
# compiled once per shape and mode.
@functools.partial(jax.jit, static_argnames="mode")
def _sorted_values(xhat, softness, mode):
    return kernel.soft_sort_values(xhat, _step(softness, mode))


@functools.partial(jax.jit, static_argnames="mode")
def _combine(xhat, softness, coeffs, mode):
    return kernel.soft_permutation_combine(xhat, _step(softness, mode), coeffs)


def _maybe_log(p: jax.Array, log: bool) -> jax.Array:
    """``log p`` with ``-inf`` at exact zeros and no NaN gradients there."""
    if not log:
        return p
    return log_or_neg_inf(p)


def _rows(xhat, softness, mode, rows, log):
    n = xhat.shape[-1]
    coeffs = jax.nn.one_hot(rows, n, dtype=xhat.dtype)
    return _maybe_log(_combine(xhat, softness, coeffs, mode), log)


def argmax(xhat, *, softness, mode, log, options):
    """Row 0 of the descending soft permutation: (..., n)."""
    n = xhat.shape[-1]
    return _rows(xhat, softness, mode, jnp.array([n - 1]), log)[..., 0, :]


def argsort(xhat, *, softness, mode, descending, log, options):
    """The soft permutation matrix (..., n, n); row r = sorted position r."""
    n = xhat.shape[-1]
    order = jnp.arange(n)
    return _rows(xhat, softness, mode, order[::-1] if descending else order, log)


def top_k_mask(xhat, k: int, *, softness, mode, options):
    """The sum of the top ``k`` rows of the soft permutation, ``(..., n)``, in one combined pass."""
    del options
    n = xhat.shape[-1]
    coeffs = (jnp.arange(n) >= n - k).astype(xhat.dtype)[None]  # ascending rows n-k .. n-1
    return _combine(xhat, softness, coeffs, mode)[..., 0, :]


def quantile_rows(xhat, k, k_next, *, softness, mode, log, interpolating, options):
    """Ascending rows ``k`` and ``k_next`` (int32, possibly traced), each (..., n).

    Only row ``k`` is computed when not ``interpolating`` (then returned twice).
    """
    rows = jnp.stack([k, k_next]) if interpolating else jnp.reshape(k, (1,))
    out = _rows(xhat, softness, mode, rows, log)
    return out[..., 0, :], out[..., -1, :]


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options):
    """Soft-sorted values straight from the network, mapped back to raw space."""
    values = unsquash(_sorted_values(xhat, softness, mode))
    return jnp.flip(values, axis=-1) if descending else values


def rank(x, xhat, *, softness, mode, descending, options):
    """Soft ranks in [1, n] (rank 1 = largest when ``descending``)."""
    n = xhat.shape[-1]
    position = jnp.arange(n, dtype=xhat.dtype)
    rank_of_position = n - position if descending else position + 1
    return _combine(xhat, softness, rank_of_position[None], mode)[..., 0, :]


__all__ = ["argmax", "argsort", "quantile_rows", "rank", "sort", "top_k_mask"]
