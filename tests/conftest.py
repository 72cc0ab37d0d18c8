"""Shared test configuration.

x64 is enabled for the whole suite so float64 results can be compared with the
published reference values of the quick examples and docstrings; float32 behaviour is tested with explicit float32
inputs (a float32 input stays float32 in every operator).
"""

import os

# The suite is dominated by XLA compile time: no backend optimisation and no
# expensive LLVM passes (the default suite: 26 -> 20 min on 2 cores). No
# fast-math: results may differ from an optimised build only in the last ulp
# (fusion, vectorisation). The benchmarks and users run without this; the
# subprocess-backed tests (docstrings, examples, sharding) inherit it.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
)

# Persistent XLA compilation cache: a second run of the suite loads most
# executables from disk instead of compiling them. Environment variables (not
# jax.config) so that the subprocess-backed tests share it.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "jax")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", help="also run the exhaustive sweeps marked slow"
    )


def pytest_collection_modifyitems(config, items):
    # The default run covers every operator x method x mode; tests marked
    # slow repeat checks over the rest of the cross product (compile-bound).
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="exhaustive sweep: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

settings.register_profile(
    "softjax",
    deadline=None,
    max_examples=15,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("softjax")
