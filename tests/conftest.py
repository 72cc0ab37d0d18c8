"""Shared test configuration.

x64 is enabled for the whole suite so float64 results can be compared with the
spec's reference values; float32 behaviour is tested with explicit float32
inputs (a float32 input stays float32 in every operator).
"""


import jax

jax.config.update("jax_enable_x64", True)

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "softjax",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("softjax")
