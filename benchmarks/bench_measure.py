"""Measure one case: compile time, XLA memory, forward and value+grad time, failures.

Nothing here raises for a failing case: every outcome is a ``status`` string
("ok", "non-finite value", "non-finite grad", "OOM: ...", "unavailable: ...",
"error: ...", "skipped (memory: ...)") in the returned row.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MB = 1024.0**2


def best_ms(f: Callable[..., Any], x: Any, repeats: int) -> float:
    """Minimum wall time in ms of ``repeats`` calls of ``f(x)`` after one warm-up call."""
    jax.block_until_ready(f(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(x))
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def peak_rss_mb() -> float:
    """Process peak resident set size so far (a high-water mark, never decreases)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, KiB on Linux


def device_peak_mb() -> float | None:
    """Accelerator peak bytes in use (``None`` on CPU, where JAX reports no stats)."""
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / MB


def available_bytes() -> float | None:
    """Memory a case may still use: free device memory, or MemAvailable on the host."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def classify(err: BaseException) -> str:
    """A one-line status for an exception."""
    text = f"{type(err).__name__}: {err}".replace("\n", " ").replace("|", "/")
    if isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower():
        return "OOM: " + text[:160]
    if "not available" in text or "Invalid method" in text:
        return "unavailable: " + text[:160]
    return "error: " + text[:200]


def _weighted_loss(fn: Callable[..., Any]) -> Callable[..., jax.Array]:
    """``sum_leaves <fn(x, *rest), w>``: a generic scalar loss with non-degenerate cotangents."""

    def loss(x: jax.Array, weights: list[jax.Array], *rest: Any) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(fn(x, *rest))
        return sum(jnp.vdot(leaf, w) for leaf, w in zip(leaves, weights, strict=True))

    return loss


def _all_finite(tree: Any) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(leaf)))) for leaf in jax.tree_util.tree_leaves(tree))


def _compile(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, float]:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def _memory_mb(compiled: Any) -> float | None:
    stats = compiled.memory_analysis()
    if stats is None:  # some backends do not report
        return None
    total = stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes
    return total / MB


def _time(compiled: Any, args: tuple[Any, ...], repeats: int, budget_s: float) -> tuple[float, int, Any]:
    """Median milliseconds over ``repeats`` calls after one warm-up call.

    Stops early once ``budget_s`` is spent (at least one timed call), so one
    slow case cannot eat the run; if the warm-up call alone took longer than
    ``budget_s`` its time is reported instead (0 timed calls).
    """
    t = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))  # warm-up; its output is checked
    warm_up = time.perf_counter() - t
    if warm_up > budget_s:
        return warm_up * 1e3, 0, out
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    return statistics.median(times) * 1e3, len(times), out


def measure(fn: Callable[..., Any], inputs: tuple[Any, ...], repeats: int, budget_s: float) -> dict[str, Any]:
    """Measure forward and value+grad (w.r.t. ``inputs[0]``) of ``fn``; never raises.

    Returned keys: status, fwd_ms, vg_ms, compile_fwd_s, compile_vg_s,
    mem_fwd_mb, mem_vg_mb (XLA ``memory_analysis`` temp + argument + output),
    rss_peak_mb, device_peak_mb, repeats_done, wall_s.
    """
    row: dict[str, Any] = {"status": "ok"}
    start = time.perf_counter()
    try:
        out_shapes = jax.eval_shape(fn, *inputs)
        rng = np.random.default_rng(1)
        weights = [
            jnp.asarray(rng.standard_normal(s.shape), dtype=s.dtype)
            for s in jax.tree_util.tree_leaves(out_shapes)
        ]
        vg_args = (inputs[0], weights, *inputs[1:])
        vg_fn = jax.value_and_grad(_weighted_loss(fn))

        fwd, row["compile_fwd_s"] = _compile(fn, inputs)
        vg, row["compile_vg_s"] = _compile(vg_fn, vg_args)
        row["mem_fwd_mb"], row["mem_vg_mb"] = _memory_mb(fwd), _memory_mb(vg)

        available = available_bytes()
        needed = max(row["mem_fwd_mb"] or 0.0, row["mem_vg_mb"] or 0.0) * MB
        if available is not None and needed > 0.8 * available:
            row["status"] = f"skipped (memory: needs {needed / 1e9:.1f} GB, {available / 1e9:.1f} GB free)"
            return _finish(row, start)

        row["fwd_ms"], fwd_reps, out = _time(fwd, inputs, repeats, budget_s / 2)
        if not _all_finite(out):
            row["status"] = "non-finite value"
        row["vg_ms"], vg_reps, (value, grad) = _time(vg, vg_args, repeats, budget_s / 2)
        row["repeats_done"] = min(fwd_reps, vg_reps)
        if row["status"] == "ok" and not _all_finite((value, grad)):
            row["status"] = "non-finite grad"
    except Exception as err:  # noqa: BLE001 - every failure becomes a table row
        row["status"] = classify(err)
    return _finish(row, start)


def _finish(row: dict[str, Any], start: float) -> dict[str, Any]:
    row["rss_peak_mb"] = peak_rss_mb()
    row["device_peak_mb"] = device_peak_mb()
    row["wall_s"] = time.perf_counter() - start
    return row


def machine_info() -> dict[str, str]:
    """Platform, CPU model, cores, memory, JAX version and devices, for report headers."""
    import platform

    cpu = platform.processor() or "unknown"
    mem = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            kib = next(int(ln.split()[1]) for ln in f if ln.startswith("MemTotal:"))
            mem = f"{kib / 1024**2:.1f} GiB"
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import jaxlib

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": f"{os.cpu_count()} (usable by this process: {usable})",
        "memory": mem,
        "jax": f"{jax.__version__} (jaxlib {jaxlib.__version__})",
        "devices": ", ".join(str(d) for d in jax.devices()),
        "backend": jax.default_backend(),
    }
