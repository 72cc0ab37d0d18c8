r"""``method="ot"``: soft permutations from regularised optimal transport (Cuturi et al. 2019).

Each operator transports the $n$ (standardized) inputs $\hat x_i$, with uniform
mass $\mu = 1/n$, onto a few anchors $t_j \in [0, 1]$ with target masses
$\nu_j$, under the cost $C_{ij} = (\hat x_i - t_j)^2$, and reads rows of the
scaled plan $P = n\Gamma^\star$ (:func:`softjax._src.kernels.transport.transport_plan`;
``smooth``: entropic / Sinkhorn, ``c0``/``c1``/``c2``: p-norm regularised,
sparse). $P$ has rows summing to 1 (one distribution per input element) and
column $j$ summing to $n\nu_j$.

| operator | anchors $t$ | masses $n\nu$ | read-off |
|---|---|---|---|
| argmax | $(0, 1)$ | $(n-1, 1)$ | column of anchor 1 |
| argsort | $j/(n-1)$ (reversed if descending) | $1$ each | $P^\top$ |
| sort | as argsort | $1$ each | $P^\top x$ |
| rank | as argsort | $1$ each | $\sum_j (j+1)\,P_{ij} / \max(\sum_j P_{ij}, 10^{-10})$ |
| top_k, $k<n$ | $(1, \tfrac{k-1}{k}, \dots, \tfrac1k, 0)$ | $(1, \dots, 1, n-k)$ | first $k$ columns, transposed |
| quantile (interpolating) | $(0, \tfrac13, \tfrac23, 1)$ | $(k, 1, k^+ - k, n-k^+-1)$ | columns of $\tfrac13$, $\tfrac23$ |
| quantile (single index) | $(0, \tfrac12, 1)$ | $(k, 1, n-k-1)$ | column of $\tfrac12$ |

``top_k`` with $k = n$ is ``argsort(descending=True)``. With ``log=True`` the
plan is returned in log space by the kernel ($(f+g-C)/s + \log n$ for Sinkhorn,
$\log P$ with $-\infty$ at exact zeros for the sparse modes) and the same
columns are read off.

Half precision (``bfloat16``, ``float16``): the whole problem (costs, solver,
implicit-differentiation solves) runs in float32; each SoftIndex row is
renormalised to sum to 1 in float32 and only then cast to the input dtype, so
its sum is 1 to one rounding of that dtype (``rank``: the float32 ranks are
cast). Solved in bfloat16 itself the plan's columns (the SoftIndex rows) were
off by 1-7 % (8 significant bits cannot resolve ``f + g - C``).

``options`` is the operator's ``ot_kwargs``: its keys are the options of
the method's declaration (``registry.METHODS["ot"].options``), its values are
validated by :func:`softjax._src.kernels.transport.resolve_ot_options`. ``softness`` must
be a scalar or constant along the working axis (shape broadcastable to
``xhat.shape[:-1] + (1,)``): one transport problem per row.
"""  # noqa: E501 - a Markdown table (its rows cannot be wrapped)

from __future__ import annotations

import jax
import jax.numpy as jnp

from softjax._src.kernels.transport import transport_plan, uncontracted, work_dtype


def _upcast(xhat):
    """``(x̂ in the working dtype, output dtype)``: float32 work below single precision."""
    return xhat.astype(work_dtype(xhat.dtype)), xhat.dtype


def _finish(rows, dtype, log: bool, axis: int = -1):
    """SoftIndex rows (distribution on ``axis``, the last by default) in the output ``dtype``.

    The solver meets its marginals to its tolerance (1e-5), not exactly, so
    each row is renormalised to sum to one (in log space for ``log`` rows)
    before the cast to ``dtype``: a SoftIndex row is then on the simplex to
    round-off in every dtype. The renormalisation is smooth and changes the
    derivative only at the order of the solver tolerance. A row with no mass
    (the zero-mass column of an interpolating quantile at ``q = 1``,
    weighted by 0 downstream) is left as it is.
    """
    if log:
        total = jax.nn.logsumexp(rows, axis=axis, keepdims=True)
        finite = jnp.isfinite(total)
        rows = rows - jnp.where(finite, total, 0)
    else:
        total = jnp.sum(rows, axis=axis, keepdims=True)
        positive = total > 0
        rows = rows / jnp.where(positive, total, 1)
    return rows.astype(dtype)


def _row_softness(softness, xhat):
    # One OT problem per row: softness may vary across rows, not within one.
    s = jnp.asarray(softness)
    if s.ndim == 0:
        return s
    if s.shape[-1] != 1:
        raise ValueError(
            "method='ot' needs one softness per transport problem: softness must be a "
            "scalar or have size 1 along the working axis, got shape "
            f"{s.shape} for input of shape {xhat.shape}"
        )
    return jnp.broadcast_to(s[..., 0], xhat.shape[:-1])


def _plan(xhat, anchors, masses, *, softness, mode, log, options):
    """``n·Γ`` (or its log), shape ``(..., n, m)``, for anchors ``t`` and masses ``n·ν``."""
    n = xhat.shape[-1]
    dtype = xhat.dtype
    anchors = jnp.asarray(anchors, dtype)
    # The anchors j / n compile to j * (1 / n): contracted into x - t in one
    # of the fusions that recompute the cost and not in another, the column
    # sums and the normalised columns saw different sparse plans at a small
    # softness (bfloat16 rows at softness 1e-6 lost 4 % of a column).
    cost = (uncontracted(xhat)[..., :, None] - uncontracted(anchors)) ** 2
    mu = jnp.full((n,), 1 / n, dtype)
    nu = jnp.asarray(masses, dtype) / n
    return transport_plan(cost, mu, nu, _row_softness(softness, xhat), mode, log=log, options=options)


def _sort_anchors(n: int, descending: bool, dtype):
    t = jnp.linspace(0, n, n, dtype=dtype) / n  # = j / (n - 1): n evenly spaced anchors on [0, 1]
    return t[::-1] if descending else t


def argmax(xhat, *, softness, mode, log, options):
    r"""Distribution over the $n$ elements for the largest one: column of anchor 1, ``(..., n)``."""
    xhat, dtype = _upcast(xhat)
    n = xhat.shape[-1]
    plan = _plan(xhat, (0.0, 1.0), (n - 1, 1), softness=softness, mode=mode, log=log, options=options)
    return _finish(plan[..., 1], dtype, log)


def argsort(xhat, *, softness, mode, descending, log, options):
    r"""Row $r$ = distribution over elements for sorted position $r$, ``(..., n, n)``."""
    xhat, dtype = _upcast(xhat)
    n = xhat.shape[-1]
    anchors = _sort_anchors(n, descending, xhat.dtype)
    plan = _plan(xhat, anchors, jnp.ones((n,)), softness=softness, mode=mode, log=log, options=options)
    # Normalised along the plan's columns before the transpose: a reduction
    # over the transposed layout would copy the whole (n, n) plan first.
    return jnp.swapaxes(_finish(plan, dtype, log, axis=-2), -1, -2)


def top_k(xhat, k: int, *, softness, mode, log, options):
    r"""Rows for the $k$ largest elements, largest first, ``(..., k, n)``."""
    n = xhat.shape[-1]
    if k >= n:
        return argsort(xhat, softness=softness, mode=mode, descending=True, log=log, options=options)
    xhat, dtype = _upcast(xhat)
    anchors = jnp.arange(k, -1, -1, dtype=xhat.dtype) / k  # (1, (k-1)/k, ..., 0)
    masses = jnp.concatenate([jnp.ones((k,)), jnp.full((1,), n - k)])
    plan = _plan(xhat, anchors, masses, softness=softness, mode=mode, log=log, options=options)
    return jnp.swapaxes(_finish(plan[..., :k], dtype, log, axis=-2), -1, -2)


def top_k_mask(xhat, k: int, *, softness, mode, options):
    r"""Each element's share of the top ``k``, ``(..., n)``, summing to ``k`` up to the solver tolerance.

    A transport to the two anchors (0, 1) with masses $(n - k, k)$ (Xie et al.
    2020, "Differentiable Top-k with Optimal Transport"): the mask is the
    share of each element sent to anchor 1.
    """
    xhat, dtype = _upcast(xhat)
    n = xhat.shape[-1]
    plan = _plan(xhat, (0.0, 1.0), (n - k, k), softness=softness, mode=mode, log=False, options=options)
    total = jnp.sum(plan, axis=-1)
    return (plan[..., 1] / jnp.where(total > 0, total, 1.0)).astype(dtype)


def quantile_rows(xhat, k, k_next, *, softness, mode, log, interpolating, options):
    r"""Rows for the ascending order statistics ``k`` and ``k_next`` (each ``(..., n)``).

    ``k``/``k_next`` are int32 scalars (possibly traced); the anchors' masses
    depend on them, so one compiled function serves every quantile.
    """
    xhat, dtype = _upcast(xhat)
    n = xhat.shape[-1]
    k = jnp.asarray(k).astype(xhat.dtype)
    kwargs = dict(softness=softness, mode=mode, log=log, options=options)
    if interpolating:
        k_next = jnp.asarray(k_next).astype(xhat.dtype)
        masses = jnp.stack([k, jnp.ones_like(k), k_next - k, n - k_next - 1])
        plan = _plan(xhat, (0.0, 1 / 3, 2 / 3, 1.0), masses, **kwargs)
        return _finish(plan[..., 1], dtype, log), _finish(plan[..., 2], dtype, log)
    masses = jnp.stack([k, jnp.ones_like(k), n - k - 1])
    row = _finish(_plan(xhat, (0.0, 0.5, 1.0), masses, **kwargs)[..., 1], dtype, log)
    return row, row


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options):
    r"""Soft-sorted values $P x$: the rows of :func:`argsort` contracted with the raw ``x``, ``(..., n)``.

    With ``gated=False`` the rows are detached (the gradient is $P^\top$).
    ``unsquash`` is unused: the values are read off ``x`` itself.
    """
    del unsquash
    p = argsort(xhat, softness=softness, mode=mode, descending=descending, log=False, options=options)
    if not gated:
        p = jax.lax.stop_gradient(p)
    return jnp.einsum("...kn,...n->...k", p, x)


def rank(x, xhat, *, softness, mode, descending, options):
    r"""Soft ranks in $[1, n]$ (rank 1 = largest when ``descending``), ``(..., n)``."""
    del x
    xhat, dtype = _upcast(xhat)
    n = xhat.shape[-1]
    anchors = _sort_anchors(n, descending, xhat.dtype)
    plan = _plan(xhat, anchors, jnp.ones((n,)), softness=softness, mode=mode, log=False, options=options)
    plan = plan / jnp.maximum(jnp.sum(plan, axis=-1, keepdims=True), 1e-10)
    return (plan @ jnp.arange(1, n + 1, dtype=xhat.dtype)).astype(dtype)


__all__ = ["argmax", "argsort", "quantile_rows", "rank", "sort", "top_k", "top_k_mask"]
