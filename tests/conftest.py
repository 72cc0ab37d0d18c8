"""Shared test configuration.

x64 is enabled for the whole suite so float64 results can be compared with the
published reference values of the quick examples and docstrings; float32
behaviour is tested with explicit float32 inputs (a float32 input stays
float32 in every operator).
"""

import os

import xla_flags

# The suite is dominated by XLA compile time: no backend optimisation, no
# expensive LLVM passes, and XLA:CPU's elemental emitters instead of its
# MLIR fusion emitters (together about 2x faster compiles). No fast-math:
# results may differ from users' builds only in rounding (fusion order,
# vectorisation), which ill-conditioned float32 paths amplify. The benchmarks
# and users run without this (the flags: ``xla_flags.py``); the
# subprocess-backed tests (docstrings, examples) inherit it. Trace consistency
# compiles as users do; the sharding report keeps the MLIR emitters, because
# smooth_sort's float32 path at n = 2048 (ill-conditioned, about 1e-3 from
# float64) then rounds alike sharded and on one device, as in users' builds.
os.environ.setdefault("XLA_FLAGS", " ".join(xla_flags.SUITE))

# Persistent XLA compilation cache: a second run of the suite loads most
# executables from disk instead of compiling them. Environment variables (not
# jax.config) so that the subprocess-backed tests share it.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "jax")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
_MIN_COMPILE_SECS_SET = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" in os.environ
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Three tiers, each containing the one before:
#   fast (default)       every public operator, method, mode and transform once;
#   full (--full)        the cross products and subprocess-backed checks; CI;
#   exhaustive (--run-slow) the sweeps marked slow (hostile inputs, every dtype).
# SOFTJAX_TEST_TIER=fast|full|exhaustive sets the tier for every pytest run
# (and for the subprocess-backed tests, which read it too).
TIERS = ("fast", "full", "exhaustive")


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", help="run the full tier (what CI runs)")
    parser.addoption("--run-slow", action="store_true", help="also run the exhaustive sweeps marked slow")


def tier(config) -> str:
    """The tier of this run: the larger of the command line's and SOFTJAX_TEST_TIER."""
    chosen = os.environ.get("SOFTJAX_TEST_TIER", "fast")
    if chosen not in TIERS:
        raise pytest.UsageError(f"SOFTJAX_TEST_TIER must be one of {TIERS}, got {chosen!r}")
    if config.getoption("--run-slow"):
        return "exhaustive"
    if config.getoption("--full") and chosen == "fast":
        return "full"
    return chosen


def pytest_configure(config):
    # Subprocess-backed tests and helpers read the tier from the environment.
    os.environ["SOFTJAX_TEST_TIER"] = tier(config)
    if tier(config) == "full":
        settings.load_profile("softjax-reproducible")
    if tier(config) != "fast" and not _MIN_COMPILE_SECS_SET:
        # The larger tiers mostly run once, on a fresh clone (CI): there,
        # serialising every small executable to the cache costs more than it
        # saves (about 5% of the run); only the compiles over a second are kept.
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "1.0"
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def pytest_report_header(config):
    return f"softjax test tier: {tier(config)}"


# Full tier only: subprocess-backed reports and the tests that take longest to
# compile, each repeating coverage that the fast tier keeps in a cheaper form
# (node-id prefixes; the reason after each).
FULL_ONLY = {
    "tests/test_trace_consistency.py": "eager vs jit vs vmap per method, one subprocess each",
    "tests/test_examples.py": "runs every example script",
    "tests/test_docstrings.py::test_docstring_example_runs": "runs every docstring example",
    "tests/test_axiswise_properties.py::test_rank_in_range_and_values_in_hull": "hypothesis sweep",
    "tests/test_axiswise_properties.py::test_log_probs_exponentiate_back": "every method x mode",
    "tests/test_axiswise_properties.py::test_soft_index_rows_are_distributions": "hypothesis sweep",
    "tests/test_axiswise_properties.py::test_permutation_equivariance": "hypothesis sweep",
    "tests/test_axiswise_properties.py::test_fused_sort_memory_is_linear": "compiles n = 4096",
    "tests/test_axiswise_transforms.py::test_float32_finite": "the finiteness sample covers it",
    "tests/test_topk_mask.py::test_hostile_inputs_finite_values_and_gradients": "finiteness sample",
    "tests/test_transport.py::test_marginals_hold_at_n256": "n = 256 solves",
    "tests/test_transport.py::test_zero_mass_targets_batching_and_degenerate_inputs": "many layouts",
    "tests/test_simplex.py::test_partial_sort_levels_are_exact": "every level of a long row",
    "tests/test_topk_mask.py::test_check_grads_real_k_methods": "second order through the k solvers",
    "tests/test_neuralsort_window.py::test_vmap_jvp_and_nan": "vmap and jvp of n = 1024 windows",
    "tests/test_neuralsort_window.py::test_windowed_rank_gradient_equals_dense": "dense n = 1024 reference",
    "tests/test_neuralsort.py::test_jvp_and_hessian_vector_product": "second order of the banded sum",
    "tests/test_transport.py::test_jacfwd_equals_jacrev_and_jit": "full Jacobians of both solvers",
    # Transport solver internals at float32/bfloat16 edges; the axis-wise tests
    # run method="ot" in every mode, and the fast tier keeps its check_grads.
    "tests/test_transport.py::test_float32_tangent_with_split_support": "solver edge case",
    "tests/test_transport.py::test_bfloat16_soft_indices_stay_on_the_simplex": "solver edge case",
    "tests/test_transport.py::test_non_convergence": "solver reporting",
    "tests/test_transport.py::test_unrolled_differentiation": "unrolled solver option",
    "tests/test_transport.py::test_cost_producer_fused": "XLA fusion rounding",
    "tests/test_transport.py::test_float32_precision_limit_is_reported": "solver reporting",
    "tests/test_transport.py::test_float32_newton_resolves_extreme": "solver edge case",
    "tests/test_transport.py::test_sparse_log_path": "solver edge case",
    "tests/test_transport.py::test_grad_wrt_softness_and_marginals": "second-order solver path",
    "tests/test_transport.py::test_dual_hessian_solve_split_support_float32": "solver edge case",
    "tests/test_transport.py::test_float32_gradients_with_huge_cotangents": "solver edge case",
    "tests/test_axiswise_transforms.py::test_jit_and_vmap[ot": "the sharding smoke check traces ot",
    # The slowest compiles of the newer families (4.5 s or more each, warm);
    # the fast tier checks the same property through a cheaper test of the file.
    "tests/test_nan_stats.py::test_soft_shapes_match_jax_numpy": "hard-mode shapes are checked",
    "tests/test_nan_stats.py::test_jit_and_vmap": "rows tests trace every method",
    "tests/test_nan_stats.py::test_straight_through_twins": "test_straight_through covers twins",
    "tests/test_nan_stats.py::test_all_nan_rows_soft_index_and_log_probs": "all-NaN values checked",
    "tests/test_softsort_window.py::test_public_api_matches_dense": "method-level test compares paths",
    "tests/test_softsort_window.py::test_short_rows_and_large_magnitudes": "finiteness sample",
    "tests/test_softsort_window.py::test_second_order_gradients": "first order compared to dense",
    "tests/test_topk_mask.py::test_transforms_jit_vmap_jvp_hessian": "check_grads of every method",
    "tests/test_topk_mask.py::test_nan_in_nan_out": "NaN propagation of the simplex kernels",
    "tests/test_finiteness.py::test_standardize_survives_extreme_rows": "finiteness sample",
    "tests/test_finiteness.py::test_every_mode_near_float32_max": "finiteness sample",
    "tests/test_writes.py::test_one_hot_put_along_axis_equals_jnp": "hard writes equal jnp",
    "tests/test_writes.py::test_one_hot_slices_equal_lax": "hard writes equal lax",
    "tests/test_writes.py::test_expected_value_of_the_hard_write": "adjoint test",
    "tests/test_cumulative.py::test_special_values_dtypes_and_shapes": "finiteness sample",
    "tests/test_cumulative.py::test_bounds_monotonicity_and_cummin_duality": "reference values",
    "tests/test_random_choice.py::test_permutation_gradients": "choice gradients",
    "tests/test_random_st.py::test_positional_arguments_after_mode": "signature test",
    "tests/test_random_st.py::test_value_splice_is_bit_exact_for_real_values": "forward test",
    "tests/test_random_categorical.py::test_gradients_finite_float32_with_impossible": "finiteness",
    "tests/test_binning.py::test_one_hot_rows_on_the_simplex": "bincount cells",
    "tests/test_binning.py::test_nan_propagates": "finiteness sample",
    "tests/test_binning.py::test_jit_vmap_consistency": "sharding smoke check",
    "tests/test_counting.py::test_soft_definitions": "reference values",
    "tests/test_cumulative.py::test_jit_vmap_and_straight_through": "sharding smoke check",
    "tests/test_binning.py::test_counts_sum_to_the_in_range_number": "histogram reference values",
    "tests/test_binning.py::test_st_twins": "test_straight_through covers twins",
    "tests/test_finiteness.py::test_softness_derivative_is_exact_after_rescaling[ot]": "softsort case",
    "tests/test_topk_mask.py::test_small_softness_recovers_hard_mask": "hard-mode test",
    "tests/test_transport.py::test_small_softness": "solver edge case",
    "tests/test_random_st.py::test_categorical_st_log_probs": "categorical log-prob tests",
    "tests/test_random_st.py::test_forward_is_underscore_hard_exactly": "bernoulli case",
    "tests/test_random_choice.py::test_choice_and_permutation_jit_vmap": "choice tests",
    "tests/test_random_categorical.py::test_log_prob_gradients_finite": "finiteness sample",
    "tests/test_random_categorical.py::test_near_hard_limit_batched_axis": "hard-limit test",
    "tests/test_smooth_sort.py::test_ranks_at_scale_1e6_float32": "finiteness sample",
    "tests/test_smooth_sort.py::test_translation_by_1e4_float32": "finiteness sample",
    "tests/test_smooth_sort.py::test_second_derivatives_agree": "axis-wise second-order test",
    "tests/test_elementwise.py::test_round_non_finite": "finiteness sample",
    "tests/test_permutahedron.py::test_jit_vmap_and_batching_agree": "axis-wise jit/vmap test",
    "tests/test_rounding.py::test_c0_identity_and_large_softness": "reference values",
}
# Exhaustive tier only: full-tier checks whose property another full-tier test
# holds at a fraction of the compile time (node-id prefixes; the reason after
# each), so that CI's full tier stays within its time budget.
_WINDOW_TESTS = "tests/test_neuralsort_window.py::"
EXHAUSTIVE_ONLY = {
    "tests/test_softsort_window.py::test_public_api_matches_dense[float64-c1]": "method-level c1 test",
    "tests/test_softsort_window.py::test_public_api_matches_dense[float64-c2]": "method-level c2 test",
    "tests/test_softsort_window.py::test_public_api_matches_dense[float32-c1]": "c0 float32 case",
    "tests/test_axiswise_transforms.py::test_float32_finite": "the finiteness sample",
    # neuralsort windows: one rank case per direction and one rank gradient.
    "tests/test_neuralsort_window.py::test_windowed_rank_equals_dense[True-c1]": "c0 and c2 descending",
    "tests/test_neuralsort_window.py::test_windowed_rank_equals_dense[False-c0]": "c1 ascending",
    "tests/test_neuralsort_window.py::test_windowed_rank_equals_dense[False-c2]": "c1 ascending",
    "tests/test_neuralsort_window.py::test_windowed_rank_gradient_equals_dense[c2]": "its c0 case",
    "tests/test_neuralsort_window.py::test_public_sort_equals_dense_whichever_path[0.01]": "softness 0.1",
    # neuralsort windows and banded A: c1's band polynomial sits between c0's
    # and c2's in the same code; the full tier keeps one case per mode.
    f"{_WINDOW_TESTS}test_windowed_rows_equal_dense_float64[1024-0.1-True-False-c1]": "c0, c2",
    f"{_WINDOW_TESTS}test_windowed_rows_equal_dense_float64[1024-0.1-True-False-c2]": "c2 ties",
    f"{_WINDOW_TESTS}test_windowed_rows_equal_dense_float64[1100-0.03-False-True-c0]": "c0",
    f"{_WINDOW_TESTS}test_windowed_rows_equal_dense_float64[1100-0.03-False-True-c1]": "c0, c2",
    f"{_WINDOW_TESTS}test_windowed_gradients_equal_dense[c0-False]": "c2 ungated",
    f"{_WINDOW_TESTS}test_windowed_gradients_equal_dense[c1-": "c0 gated, c2 ungated",
    f"{_WINDOW_TESTS}test_windowed_gradients_equal_dense[c2-True]": "c0 gated",
    f"{_WINDOW_TESTS}test_float32_within_the_dense_rounding[c1]": "c0, c2",
    "tests/test_neuralsort.py::test_short_rows_and_extreme_softness_are_finite[float32-c1]": "float32 c0",
    "tests/test_neuralsort.py::test_short_rows_and_extreme_softness_are_finite[float32-c2]": "bfloat16 c2",
    "tests/test_neuralsort.py::test_short_rows_and_extreme_softness_are_finite[bfloat16-c0]": "float32 c0",
    "tests/test_neuralsort.py::test_short_rows_and_extreme_softness_are_finite[bfloat16-c1]": "bfloat16 c2",
    "tests/test_neuralsort.py::test_public_operators_equal_pairwise_path[c0-rank]": "c1 rank",
    "tests/test_neuralsort.py::test_public_operators_equal_pairwise_path[c0-quantile]": "c2 quantile",
    "tests/test_neuralsort.py::test_public_operators_equal_pairwise_path[c1-sort]": "c0 sort",
    "tests/test_neuralsort.py::test_public_operators_equal_pairwise_path[c1-quantile]": "c2 quantile",
    "tests/test_neuralsort.py::test_public_operators_equal_pairwise_path[c2-sort]": "c0 sort",
    "tests/test_neuralsort.py::test_public_operators_equal_pairwise_path[c2-rank]": "c1 rank",
    "tests/test_topk_mask.py::test_hostile_inputs_finite_values_and_gradients": "the finiteness sample",
    # One smooth and one piecewise mode per k solver stay in the full tier.
    "tests/test_topk_mask.py::test_check_grads_real_k_methods[fast_soft_sort-smooth]": "its c2 case",
    "tests/test_topk_mask.py::test_check_grads_real_k_methods[fast_soft_sort-c0]": "its c2 case",
    "tests/test_topk_mask.py::test_check_grads_real_k_methods[fast_soft_sort-c1]": "its c2 case",
    "tests/test_topk_mask.py::test_check_grads_real_k_methods[threshold-c0]": "its smooth case",
    "tests/test_topk_mask.py::test_check_grads_real_k_methods[threshold-c1]": "its smooth case",
    "tests/test_topk_mask.py::test_check_grads_real_k_methods[threshold-c2]": "its smooth case",
    "tests/test_permutahedron.py::test_float32_finite": "the finiteness sample",
    "tests/test_softsort_window.py::test_windows_are_the_dense_supports[c1]": "method-level c1 test",
    "tests/test_softsort_window.py::test_windows_are_the_dense_supports[c2]": "method-level c2 test",
    "tests/test_softsort_window.py::test_memory_is_linear[c1]": "c0 case (same kernel)",
    # ot: test_valid_entries_unstandardized[ot] keeps it in the full tier.
    "tests/test_nan_stats.py::test_rows_without_nan_are_the_operator[ot]": "see above",
    "tests/test_nan_stats.py::test_rows_with_nan_are_the_operator_on_the_valid_entries[ot]": "see above",
}

# The fast tier keeps the first parameter set only for kernel and sampler
# internals (the public operators' tests cover every mode through them) and
# for the families whose tests compile every mode of every method (the full
# tier runs the rest).
FAST_PARAMS_BY_FILE = {
    "test_simplex.py": 1,
    "test_permutahedron.py": 1,
    "test_transport.py": 1,
    "test_random_categorical.py": 1,
    "test_random_choice.py": 1,
    "test_random_multinomial.py": 1,
    "test_random_bernoulli.py": 1,
    "test_random_st.py": 1,
    "test_softsort_window.py": 1,
    "test_softsort_linear.py": 1,
    "test_nan_stats.py": 1,
    "test_binning.py": 1,
    "test_counting.py": 1,
    "test_cumulative.py": 1,
    "test_writes.py": 1,
    "test_losses.py": 1,
    "test_topk_mask.py": 1,
    "test_rounding.py": 1,
    "test_topk.py": 1,
    "test_neuralsort.py": 1,
    "test_neuralsort_window.py": 1,
}
# In the fast tier a parametrized test runs on at most this many of its
# parameter sets (the first and the last, and evenly between; fewer for the
# files in FAST_PARAMS_BY_FILE).
FAST_PARAMS = 2


def _thin(items):
    """The items of the fast tier: each test function on at most FAST_PARAMS parameter sets."""
    groups: dict[tuple, list] = {}
    for item in items:
        groups.setdefault((item.path, item.originalname), []).append(item)
    keep = set()
    for (path, _), group in groups.items():
        n, most = len(group), FAST_PARAMS_BY_FILE.get(path.name, FAST_PARAMS)
        picks = {round(i * (n - 1) / max(most - 1, 1)) for i in range(min(n, most))}
        keep.update(id(group[i]) for i in picks)
    return keep


def pytest_collection_modifyitems(config, items):
    level = TIERS.index(tier(config))
    skip_slow = pytest.mark.skip(reason="exhaustive sweep: run with --run-slow")
    skip_full = pytest.mark.skip(reason="full tier: run with --full")
    fast = _thin([item for item in items if "slow" not in item.keywords]) if level == 0 else set()
    for item in items:
        nodeid = item.nodeid
        if level < 2 and ("slow" in item.keywords or any(nodeid.startswith(p) for p in EXHAUSTIVE_ONLY)):
            item.add_marker(skip_slow)
        elif level == 0 and (
            "full" in item.keywords
            or id(item) not in fast
            or any(nodeid.startswith(prefix) for prefix in FULL_ONLY)
        ):
            item.add_marker(skip_full)


settings.register_profile(
    "softjax",
    deadline=None,
    max_examples=15,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# The full tier (CI) draws the same examples on every run and machine, so a
# red CI is reproducible and never a new random draw; the fast and
# exhaustive tiers keep exploring.
settings.register_profile("softjax-reproducible", settings.get_profile("softjax"), derandomize=True)
settings.load_profile("softjax")


# Per-test wall time (setup + call + teardown), the latest run of each test, for choosing
# what belongs in the fast tier: .cache/test-durations.json (git-ignored).
_DURATIONS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    _DURATIONS[report.nodeid] = _DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput") or not _DURATIONS:
        return  # xdist workers report to the controller, which writes the file
    import json

    path = os.path.join(os.path.dirname(_CACHE), "test-durations.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:  # runs of a few files update their entries only
        with open(path) as f:
            merged = {**json.load(f), **_DURATIONS}
    except (OSError, ValueError):
        merged = dict(_DURATIONS)
    with open(path, "w") as f:
        json.dump(dict(sorted(merged.items(), key=lambda kv: -kv[1])), f, indent=0)


# Module-level generators that tests draw from (``RNG``/``_RNG``).
_MODULE_GENERATOR_NAMES = ("RNG", "_RNG")


@pytest.fixture(autouse=True)
def _reseed_module_generators(request):
    """Reseed a test module's generators from the test's id before each test.

    Without this, a test's data would depend on which tests ran before it in
    the same process, which pytest-xdist decides differently on every machine:
    a failure found in CI could not be reproduced. Module constants drawn at
    import keep their values (imports run in a fixed order).
    """
    import zlib

    import numpy as np

    module = request.node.module
    for name in _MODULE_GENERATOR_NAMES:
        if isinstance(getattr(module, name, None), np.random.Generator):
            setattr(module, name, np.random.default_rng(zlib.crc32(request.node.nodeid.encode())))


# Every executable XLA:CPU compiles keeps a few memory mappings of its machine
# code for as long as JAX caches it. Over a full-tier run a worker takes about
# 90,000-110,000 of them, beyond the kernel's limit (vm.max_map_count, 65530
# by default) past which mmap fails; such runs had workers die of a
# segmentation fault inside XLA's compiler near their end. Dropping JAX's
# caches once a process holds many mappings keeps it far below the limit (and
# its memory in check) at the price of recompiling a few shared helpers.
_MAX_MAPPINGS = 20_000


def _memory_mappings() -> int:
    """How many memory mappings this process holds (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return 0


@pytest.fixture(autouse=True)
def _release_compiled_executables():
    yield
    if _memory_mappings() > _MAX_MAPPINGS:
        import gc

        jax.clear_caches()
        gc.collect()
        _return_freed_memory()


def _return_freed_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc only; elsewhere a no-op)."""
    import contextlib
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
