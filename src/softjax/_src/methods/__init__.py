"""Relaxation methods for the axis-wise operators (one module per method).

A *method* maps operator semantics (which rows of a soft permutation an
operator needs, which anchors/marginals, how values are read off) onto a math
kernel from :mod:`softjax._src.kernels`. The public operators in
``softjax._src.{extrema,sorting,quantiles,topk}`` do all argument validation,
hard mode, axis handling and standardization, then call the method's
functions with the working axis **last** (arbitrary leading batch dims).

Each method is declared once, by a
:class:`~softjax._src.methods.declaration.MethodSpec` in
:data:`softjax._src.methods.registry.METHODS`: what it serves, its modes,
whether it standardizes, its options, its module and its docs summary.
Every method module has the same shape: a module docstring naming the paper
it follows, then the functions its declaration serves
(:attr:`~softjax._src.methods.declaration.MethodSpec.functions`), with the
signatures below: ``sort`` and ``rank`` always; ``argmax``, ``argsort``,
``quantile_rows`` for methods with ``index_outputs`` and ``top_k`` unless
they read values off ``sort`` (``sorted_values``); ``top_k_mask`` for
methods with ``top_k_mask``. The registry checks this when it loads a module.

``argmax(xhat, *, softness, mode, log, options) -> (..., n)``
    Distribution over the n elements for the largest one.
``argsort(xhat, *, softness, mode, descending, log, options) -> (..., n, n)``
    Row r = distribution over elements for sorted position r.
``top_k(xhat, k, *, softness, mode, log, options) -> (..., k, n)``
    Rows for the k largest elements, largest first (k is a static int).
``quantile_rows(xhat, k, k_next, *, softness, mode, log, interpolating, options)``
    ``-> (row_k, row_k_next)``, each ``(..., n)``: rows for the ascending
    0-based order statistics ``k`` and ``k_next = min(k + 1, n - 1)`` (int32
    scalars, possibly traced). ``row_k_next`` is ignored when
    ``interpolating`` is False.
``top_k_mask(xhat, k, *, softness, mode, options) -> (..., n)``
    Each element's soft membership of the top ``k`` (static int), summing
    to ``k``; ``sj.top_k_mask`` projects it onto the capped simplex. With
    ``real_k`` declared, ``k`` may be real (and traced), ``softness`` one
    per row, and the result is used as it is.
``sort(x, xhat, *, softness, mode, descending, gated, unsquash, options) -> (..., n)``
    Soft-sorted values in raw space. ``unsquash`` maps squashed values back
    to raw space (identity when not standardized). Methods that contract a
    SoftIndex return ``P x`` with ``P`` detached unless ``gated``.
``rank(x, xhat, *, softness, mode, descending, options) -> (..., n)``
    Soft ranks in ``[1, n]`` (rank 1 = largest when ``descending``).

Conventions: ``xhat`` is the standardized-and-squashed input (or the raw
input, scaled by a power of two where ``x / softness`` would overflow,
when ``standardize=False``, or for methods declared with
``standardizes=False``); ``x`` is the raw input; ``softness`` has already
been validated and ``mode`` is one of the method's declared ``modes``. With
``log=True`` index outputs must be log-probabilities (use the
exact log path where one exists, e.g. ``log_softmax``; otherwise the log of
the probabilities, ``-inf`` at exact zeros, with no NaN gradients).
``options`` is the operator's ``ot_kwargs`` dict (``{}`` if None), its keys
checked against the method's declared ``options``; methods that declare
none (all but ``ot``) ignore it.

The declared ``raw_power`` (default 1) is the power of ``x`` that the method
divides by ``softness`` when it receives raw values, so that rows near the
dtype's maximum are scaled down enough (``axiswise.prepare_rows``).
"""
