"""The XLA flags the test suite compiles with (``conftest.py`` sets them for
every test process; subprocess-backed reports pick from them).

Compile time dominates the suite. Both sets change only rounding, never
semantics (no fast-math).
"""

# No backend optimisation and no expensive LLVM passes.
CHEAP_COMPILE = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
# XLA:CPU's elemental emitters instead of its MLIR fusion emitters (about 2x
# faster compiles on top of CHEAP_COMPILE).
ELEMENTAL_EMITTERS = ("--xla_cpu_use_fusion_emitters=false",)
SUITE = CHEAP_COMPILE + ELEMENTAL_EMITTERS


def without_suite_flags(flags: str) -> str:
    """``flags`` (an ``XLA_FLAGS`` value) less every flag of :data:`SUITE`, whatever its value."""
    names = tuple(flag.split("=")[0] for flag in SUITE)
    return " ".join(f for f in flags.split() if not f.startswith(names))
