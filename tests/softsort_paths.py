"""Shared by the tests of softsort's fast paths (``test_softsort_linear``, ``test_softsort_window``).

``dispatch`` routes ``sj.sort``/``sj.rank`` with ``method="softsort"`` through
the near-linear paths or through the dense reference rows; ``hostile_rows`` builds the
hostile batches both files compare on.
"""

from __future__ import annotations

import contextlib

import numpy as np

from softjax._src.methods import softsort as ss

SOFTNESS = (1e-3, 0.1, 10.0)


@contextlib.contextmanager
def dispatch(fast: bool):
    """Trace softsort sort/rank through the fast paths (scan or windows) or the dense rows."""
    old = ss.SCAN_MIN_N
    ss.SCAN_MIN_N = 1 if fast else 1 << 62
    try:
        yield
    finally:
        ss.SCAN_MIN_N = old


def hostile_rows(n: int, dtype, offset: float = 1e6) -> np.ndarray:
    """A (4, n) batch: tie-free, heavily tied, constant, tie-free plus ``offset``."""
    rng = np.random.default_rng(n)
    batch = [rng.standard_normal(n), np.round(rng.standard_normal(n), 1), np.full(n, 0.7)]
    return np.stack([*batch, offset + rng.standard_normal(n)]).astype(dtype)


def rel(a, b) -> float:
    """Largest absolute deviation relative to the largest ``|b|``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
