"""The Coverage page (docs/coverage.md) names JAX functions and SoftJAX twins that exist.

Each table row is ``| `JAX name` | `sj.twin` | notes |`` or, for a function
without a twin, ``| `JAX name` | — | the reason |``. The test fails when a
listed twin is missing from ``softjax``, when a listed JAX function does not
exist (a typo would hide a gap), or when a row without a twin gives no reason.
"""

import re
from pathlib import Path

import jax
import jax.numpy as jnp

import softjax as sj

PAGE = Path(__file__).resolve().parents[1] / "docs" / "coverage.md"
ROW = re.compile(r"^\|\s*(?P<jax>[^|]+?)\s*\|\s*(?P<twin>[^|]+?)\s*\|\s*(?P<notes>[^|]*?)\s*\|$")
PREFIXES = {"jnp": jnp, "lax": jax.lax, "jax.nn": jax.nn, "jax.random": jax.random, "sj": sj}


def _rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in PAGE.read_text().splitlines():
        match = ROW.match(line)
        if match and match["jax"] not in ("JAX", "Operation") and not match["jax"].startswith("---"):
            rows.append((match["jax"], match["twin"], match["notes"]))
    return rows


def _resolve(dotted: str) -> object:
    for prefix, module in sorted(PREFIXES.items(), key=lambda kv: -len(kv[0])):
        if dotted.startswith(prefix + "."):
            obj: object = module
            for part in dotted[len(prefix) + 1 :].split("."):
                obj = getattr(obj, part)
            return obj
    raise AssertionError(f"{dotted!r} does not start with one of {sorted(PREFIXES)}")


ROWS = _rows()


def test_page_lists_the_discrete_surface():
    assert len(ROWS) > 100
    names = [jax_name for jax_name, _, _ in ROWS]
    assert len(names) == len(set(names)), "a function is listed twice"


def test_every_row_names_functions_that_exist():
    # One test over all rows (not parametrized), so that the fast tier checks every row.
    problems = []
    for jax_name, twin, notes in ROWS:
        code = re.fullmatch(r"`([\w.]+)`", jax_name)
        try:
            if code:  # a JAX function: it must exist
                _resolve(code[1])
            if twin == "—":
                if not notes:
                    problems.append(f"{jax_name} has no twin and no reason")
                continue
            twin_name = re.fullmatch(r"`(sj\.[\w.]+)`", twin)
            if not twin_name:
                problems.append(f"the twin of {jax_name} must be written `sj.name`, got {twin!r}")
            elif not callable(_resolve(twin_name[1])):
                problems.append(f"{twin_name[1]} is not callable")
        except AttributeError as error:
            problems.append(f"{jax_name} | {twin}: {error}")
    assert not problems, "\n".join(problems)


def test_api_overview_lists_every_public_name():
    # docs/api/index.md is kept by hand: a new public name must get its row.
    overview = (PAGE.parent / "api" / "index.md").read_text()
    listed = set(re.findall(r"\]\[(softjax(?:\.\w+)+)\]", overview))
    public = {
        f"{module.__name__}.{name}"
        for module in (sj, sj.random, sj.losses)
        for name in module.__all__
        if callable(getattr(module, name)) and not isinstance(getattr(module, name), type(sj))
    }
    public -= {f"softjax.{name}" for name in ("OTConvergenceWarning", "OTPrecisionWarning")}
    assert not sorted(public - listed), f"missing from docs/api/index.md: {sorted(public - listed)}"
