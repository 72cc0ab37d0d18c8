"""``softjax.losses``: hard mode against NumPy references, soft -> hard, gradients, transforms, errors.

Also runs ``examples/ranking_losses.py``; the docstring examples run with
every other public function's in ``tests/test_docstrings.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj
from softjax import losses

ROOT = Path(__file__).resolve().parents[1]
SOFT_MODES = ("smooth", "c0", "c1", "c2")
RNG = np.random.default_rng(0)


# --------------------------------------------------------------------------- NumPy references


def np_average_ranks(row):
    """Ascending ranks 1..n, ties sharing their average rank (scipy's rankdata 'average')."""
    row = np.asarray(row, np.float64)
    order = np.argsort(row, kind="stable")
    ranks = np.empty(len(row))
    i = 0
    while i < len(row):
        j = i
        while j + 1 < len(row) and row[order[j + 1]] == row[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def np_spearman(p, t):
    a, b = np_average_ranks(p), np_average_ranks(t)
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return 0.0 if den == 0 else (a * b).sum() / den


def np_ndcg(scores, rel, k=None):
    n = len(scores)
    k = n if k is None else min(k, n)
    gains = 2.0 ** np.asarray(rel, np.float64) - 1
    order = np.argsort(-np.asarray(scores), kind="stable")  # ties: earlier index first
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = (gains[order[:k]] * disc).sum()
    idcg = (np.sort(gains)[::-1][:k] * disc).sum()
    return 0.0 if idcg == 0 else dcg / idcg


def np_top_k_error(logits, label, k):
    order = np.argsort(-np.asarray(logits), kind="stable")  # = jax.lax.top_k's tie rule
    return 0.0 if label in order[:k] else 1.0


def np_trimmed_mean(x, trim):
    n = len(x)
    g = int(trim * n)  # scipy.stats.trim_mean's cut
    return np.sort(x)[g : n - g].mean()


def np_pinball(pred, target, q):
    u = np.asarray(target) - np.asarray(pred)
    return np.maximum(q * u, (q - 1) * u)


def np_sort_mse(x, y):
    return np.mean((np.sort(x) - np.sort(y)) ** 2)


def rowwise(fn, *arrays, **kw):
    """Apply a 1-D reference along the last axis of 2-D arrays."""
    return np.array([fn(*rows, **kw) for rows in zip(*arrays, strict=True)])


# --------------------------------------------------------------------------- hard mode
# Compile time dominates: every test evaluates its calls in ONE jitted bundle.


def _data(shape=(6, 9), ties=False):
    x = RNG.standard_normal(shape)
    return np.round(x * 2) / 2 if ties else x


_KS = (None, 1, 3, 20)
_TRIMS = (0.0, 0.1, 0.2, 0.34, 0.49)
_QS = (0.0, 0.1, 0.5, 0.9, 1.0)


@jax.jit
def _hard_bundle(p, t, y, rel, labels):
    return {
        "spearman": losses.spearman(p, t, mode="hard"),
        "ndcg": [losses.ndcg(p, rel, k, mode="hard") for k in _KS],
        "top_k": [losses.top_k_accuracy_loss(p, labels, k, mode="hard") for k in (1, 3, p.shape[-1])],
        "trimmed_mean": [losses.trimmed_mean(p, trim, mode="hard") for trim in _TRIMS],
        "quantile_loss": [losses.quantile_loss(p, t, q, mode="hard") for q in _QS],
        "sort_mse": losses.sort_mse(p, y, mode="hard"),
    }


@pytest.mark.parametrize("ties", [False, True])
def test_hard_equals_references(ties):
    p, t, y = _data(ties=ties), _data(ties=ties), _data(ties=ties)
    rel = RNG.integers(0, 4, p.shape).astype(float)
    rel[0] = 0.0  # a query without relevant documents
    labels = RNG.integers(0, p.shape[-1], p.shape[0])
    out = _hard_bundle(p, t, y, rel, labels)
    np.testing.assert_allclose(out["spearman"], rowwise(np_spearman, p, t), rtol=1e-12, atol=1e-14)
    for k, got in zip(_KS, out["ndcg"], strict=True):
        np.testing.assert_allclose(got, rowwise(np_ndcg, p, rel, k=k), rtol=1e-12, atol=1e-14)
    for k, got in zip((1, 3, p.shape[-1]), out["top_k"], strict=True):
        want = np.array([np_top_k_error(row, lab, k) for row, lab in zip(p, labels, strict=True)])
        np.testing.assert_array_equal(got, want)
    for trim, got in zip(_TRIMS, out["trimmed_mean"], strict=True):
        np.testing.assert_allclose(got, rowwise(np_trimmed_mean, p, trim=trim), rtol=1e-13)
    for q, got in zip(_QS, out["quantile_loss"], strict=True):
        np.testing.assert_array_equal(got, np_pinball(p, t, q))
    np.testing.assert_allclose(out["sort_mse"], rowwise(np_sort_mse, p, y), rtol=1e-13)


def test_hard_axis_broadcasting_ties_and_degenerate_rows():
    p, t = _data((4, 7)), _data((4, 7))
    rel = RNG.integers(0, 3, (7,)).astype(float)  # one relevance row broadcast over the batch
    labels = np.array([0, 1, 2])
    q = np.array([[0.1], [0.5], [0.9], [0.99]])
    const, ramp = jnp.ones((2, 5)), jnp.arange(5.0)
    s3, rel3 = jnp.array([1.0, 1.0, 0.0]), jnp.array([0.0, 2.0, 1.0])

    @jax.jit
    def bundle():
        return {
            "spearman_axis0": losses.spearman(p.T, t.T, axis=0, mode="hard"),
            "spearman": losses.spearman(p, t, mode="hard"),
            "ndcg_broadcast": losses.ndcg(p, rel, 3, mode="hard"),
            "top_k_axis0": losses.top_k_accuracy_loss(p[:3].T, labels, 2, axis=0, mode="hard"),
            "trimmed_axis0": losses.trimmed_mean(p.T, 0.2, axis=0, mode="hard"),
            "pinball_q": losses.quantile_loss(p, t, q, mode="hard"),
            "spearman_tied_pred": losses.spearman(
                jnp.array([1.0, 1.0, 2.0]), jnp.array([1.0, 2.0, 3.0]), mode="hard"
            ),
            "ndcg_tie_k1": losses.ndcg(s3, rel3, 1, mode="hard"),
            "ndcg_tie_k2_rev": losses.ndcg(s3[::-1], rel3[::-1], 2, mode="hard"),
            "top_k_ties": losses.top_k_accuracy_loss(
                jnp.array([[3.0, 3.0, 1.0], [3.0, 3.0, 1.0]]), jnp.array([0, 1]), 1, mode="hard"
            ),
            "spearman_const_pred": losses.spearman(const, ramp, mode="hard"),
            "spearman_const_target": losses.spearman(ramp, const, mode="hard"),
            "spearman_n1": losses.spearman(jnp.array([2.0]), jnp.array([1.0]), mode="hard"),
            "ndcg_irrelevant": losses.ndcg(ramp, jnp.zeros(5), mode="hard"),
            "ndcg_n1": losses.ndcg(jnp.array([0.3]), jnp.array([2.0]), mode="hard"),
            "top_k_n1": losses.top_k_accuracy_loss(jnp.array([0.3]), jnp.array(0), 1, mode="hard"),
            "trimmed_n1": losses.trimmed_mean(jnp.array([4.0]), 0.4, mode="hard"),
        }

    out = bundle()
    np.testing.assert_allclose(out["spearman_axis0"], out["spearman"], rtol=1e-14)
    np.testing.assert_allclose(out["ndcg_broadcast"], rowwise(np_ndcg, p, np.broadcast_to(rel, p.shape), k=3))
    np.testing.assert_array_equal(out["top_k_axis0"], [np_top_k_error(p[i], labels[i], 2) for i in range(3)])
    np.testing.assert_allclose(out["trimmed_axis0"], rowwise(np_trimmed_mean, p, trim=0.2))
    np.testing.assert_array_equal(out["pinball_q"], np_pinball(p, t, q))
    # tied predictions share their average rank (scipy.stats.spearmanr)
    assert float(out["spearman_tied_pred"]) == pytest.approx(np_spearman([1, 1, 2], [1, 2, 3]), rel=1e-14)
    # ndcg: tied scores ranked by position; top_k: ties go to the lower class index
    assert float(out["ndcg_tie_k1"]) == 0.0
    assert float(out["ndcg_tie_k2_rev"]) == pytest.approx(np_ndcg(s3[::-1], rel3[::-1], 2))
    np.testing.assert_array_equal(out["top_k_ties"], [0, 1])
    # degenerate rows
    assert np.all(out["spearman_const_pred"] == 0) and np.all(out["spearman_const_target"] == 0)
    assert float(out["spearman_n1"]) == 0 and float(out["ndcg_irrelevant"]) == 0
    assert float(out["ndcg_n1"]) == 1 and float(out["top_k_n1"]) == 0 and float(out["trimmed_n1"]) == 4.0


# --------------------------------------------------------------------------- soft -> hard


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_tends_to_hard_and_ranges(mode):
    p, t = _data((3, 8)), _data((3, 8))
    rel = RNG.integers(0, 4, p.shape).astype(float)
    labels = np.array([0, 3, 7])

    def bundle(s, m):
        return {
            "spearman": losses.spearman(p, t, softness=s, mode=m),
            "ndcg": losses.ndcg(p, rel, 3, softness=s, mode=m),
            # the margins of these logits are > 1e-3, far beyond 5 * softness
            "top_k": losses.top_k_accuracy_loss(p, labels, 2, softness=s, mode=m),
            "trimmed_mean": losses.trimmed_mean(p, 0.25, softness=s, mode=m),
            "quantile_loss": losses.quantile_loss(p, t, 0.3, softness=s, mode=m),
            "sort_mse": losses.sort_mse(p, t, softness=s, mode=m),
        }

    run = jax.jit(lambda s: (bundle(s, mode), bundle(0.1, "hard")))
    soft, hard = run(1.0)
    near, _ = run(1e-5)
    for name in hard:
        np.testing.assert_allclose(near[name], hard[name], atol=1e-4 if name == "quantile_loss" else 1e-6)
        if name not in ("trimmed_mean", "sort_mse"):  # fast_soft_sort's sort is still hard at s = 1
            assert not np.allclose(soft[name], hard[name], atol=1e-3), name
    assert np.all(np.abs(soft["spearman"]) <= 1)
    assert np.all((soft["ndcg"] >= 0) & (soft["ndcg"] <= 1))
    assert np.all((soft["top_k"] >= 0) & (soft["top_k"] <= 1))
    # the soft pinball is an upper bound of the hard one
    assert np.all(soft["quantile_loss"] >= hard["quantile_loss"] - 1e-15)


def test_ndcg_cutoff_piecewise_modes_exact_at_integer_ranks():
    # hard-like ranks (tiny softness): the c0 cutoff of width min(s, 0.1) is exact
    s, rel = _data((2, 10)), RNG.integers(0, 4, (2, 10)).astype(float)
    soft, hard = jax.jit(
        lambda: (losses.ndcg(s, rel, 4, softness=1e-4, mode="c0"), losses.ndcg(s, rel, 4, mode="hard"))
    )()
    np.testing.assert_allclose(soft, hard, atol=1e-12)


# --------------------------------------------------------------------------- gradients (float64)


_P = RNG.standard_normal(7)
_T = RNG.standard_normal(7)
_REL = np.array([0.0, 1.0, 3.0, 2.0, 0.0, 1.0, 4.0])
_LABELS = np.array([2, 5])


def _fns(mode):
    kw = dict(softness=1.0, mode=mode)
    return {
        "spearman": lambda p: losses.spearman(p, _T, **kw),
        "ndcg": lambda p: losses.ndcg(p, _REL, 3, **kw),
        "top_k": lambda p: losses.top_k_accuracy_loss(jnp.stack([p[:6], p[1:]]), _LABELS, 2, **kw),
        "trimmed_mean": lambda p: losses.trimmed_mean(p, 0.2, softness=3.0, mode=mode),
        "quantile_loss": lambda p: losses.quantile_loss(p, _T, 0.3, softness=0.5, mode=mode),
        "sort_mse": lambda p: losses.sort_mse(p, _T, softness=3.0, mode=mode),
    }


def _stacked(mode, names=None):
    fns = _fns(mode)
    names = names or list(fns)
    return lambda p: jnp.concatenate([jnp.atleast_1d(fns[n](p)) for n in names])


@pytest.mark.parametrize("mode", ["smooth", pytest.param("c1", marks=pytest.mark.full), "c2"])
def test_check_grads_float64(mode):
    # every function at once (one compile per transformation); forward mode only for smooth
    modes = ("fwd", "rev") if mode == "smooth" else ("rev",)
    check_grads(jax.jit(_stacked(mode)), (jnp.asarray(_P),), order=1, modes=modes, eps=1e-6)
    if mode == "smooth":
        second = jax.jit(_stacked(mode, ["spearman", "quantile_loss"]))
        check_grads(second, (jnp.asarray(_P),), order=2, modes=("rev",), eps=1e-5)


def test_gradients_nonzero_where_hard_is_flat_and_none_to_targets():
    def bundle(p, t):
        hard, soft = _fns("hard"), _fns("smooth")
        return {
            "hard_spearman": jax.grad(hard["spearman"])(p),
            "hard_ndcg": jax.grad(hard["ndcg"])(p),
            "soft_spearman": jax.grad(soft["spearman"])(p),
            "soft_ndcg": jax.grad(soft["ndcg"])(p),
            "soft_top_k": jax.grad(lambda z: soft["top_k"](z).sum())(p),
            "target": jax.grad(lambda z: losses.spearman(p, z, softness=1.0))(t),
        }

    out = jax.jit(bundle)(jnp.asarray(_P), jnp.asarray(_T))
    assert np.all(out["hard_spearman"] == 0) and np.all(out["hard_ndcg"] == 0)
    for name in ("soft_spearman", "soft_ndcg", "soft_top_k"):
        assert np.linalg.norm(out[name]) > 1e-3, name
    assert np.all(out["target"] == 0)


# --------------------------------------------------------------------------- float32, awkward inputs


_AWKWARD = {  # rows of six: ties, constant, 1e6 magnitude, 1e6 with ties
    6: np.array(
        [
            [1.0, 1.0, 1.0, 2.0, 2.0, 0.5],
            [3.0, 3.0, 3.0, 3.0, 3.0, 3.0],
            1e6 * RNG.standard_normal(6),
            [1e6, 1e6, -1e6, 1e6, 0.0, -1e6],
        ],
        np.float32,
    ),
    1: np.array([[0.7]], np.float32),
    2: np.array([[0.7, -0.2], [1.0, 1.0]], np.float32),
}


def _awkward_bundle(x, mode):
    n = x.shape[-1]
    kw = dict(softness=0.5, mode=mode)
    t = jnp.linspace(-1, 1, n, dtype=jnp.float32)
    rel = (jnp.arange(n) % 3).astype(jnp.float32)
    labels = jnp.full(x.shape[:-1], n - 1)
    fns = {
        "spearman": lambda z: losses.spearman(z, t, **kw),
        "spearman_const_target": lambda z: losses.spearman(z, jnp.zeros_like(t), **kw),
        "ndcg": lambda z: losses.ndcg(z, rel, 2, **kw),
        "ndcg_irrelevant": lambda z: losses.ndcg(z, jnp.zeros_like(rel), **kw),
        "top_k": lambda z: losses.top_k_accuracy_loss(z, labels, min(2, n), **kw),
        "trimmed_mean": lambda z: losses.trimmed_mean(z, 0.2, **kw),
        "quantile_loss": lambda z: losses.quantile_loss(z, t, 0.3, **kw),
        "sort_mse": lambda z: losses.sort_mse(z, t, **kw),
    }
    return {name: jax.value_and_grad(lambda z, f=f: jnp.sum(f(z)))(x) for name, f in fns.items()}


@pytest.mark.parametrize(("mode", "n"), [("smooth", 6), ("smooth", 1), ("smooth", 2), ("c0", 6)])
def test_float32_finite_values_and_gradients(mode, n):
    out = jax.jit(_awkward_bundle, static_argnums=1)(jnp.asarray(_AWKWARD[n]), mode)
    for name, (value, grad) in out.items():
        assert value.dtype == jnp.float32 and grad.dtype == jnp.float32, name
        assert np.isfinite(value) and np.all(np.isfinite(grad)), (name, value, grad)
    if n == 6:
        # the constant row: correlation 0 with zero gradient
        rho = jax.jit(
            lambda z: losses.spearman(z, jnp.arange(6.0, dtype=jnp.float32), softness=0.5, mode=mode)
        )
        assert float(rho(_AWKWARD[6][1])) == 0
        assert np.all(out["spearman"][1][1] == 0)


# --------------------------------------------------------------------------- transforms


def test_jit_vmap_jvp_agree():
    p, t = _data((3, 7)), _data((3, 7))
    rel = RNG.integers(0, 4, p.shape).astype(float)
    labels = np.array([0, 4, 6])

    def bundle(p, t, rel, labels):
        return {
            "spearman": losses.spearman(p, t, softness=0.5),
            "ndcg": losses.ndcg(p, rel, 3, softness=0.5, mode="c1"),
            "top_k": losses.top_k_accuracy_loss(p, labels, 2, softness=0.5),
            "trimmed_mean": losses.trimmed_mean(p, 0.2, softness=2.0),
            "quantile_loss": losses.quantile_loss(p, t, 0.25, mode="c2"),
            "sort_mse": losses.sort_mse(p, t, softness=2.0),
        }

    batched = jax.jit(bundle)(p, t, rel, labels)
    mapped = jax.jit(jax.vmap(bundle))(p, t, rel, labels)
    for name in batched:
        np.testing.assert_allclose(mapped[name], batched[name], rtol=1e-12, atol=1e-14, err_msg=name)

    # jvp agrees with the gradient; a traced softness gives the concrete one's value
    f = lambda a, s: losses.ndcg(a, rel[0], 3, softness=s)
    v = RNG.standard_normal(7)

    @jax.jit
    def transforms(a, v, s):
        return jax.jvp(lambda z: f(z, 0.5), (a,), (v,))[1], jax.grad(f)(a, 0.5) @ v, f(a, s), f(a, 0.5)

    tangent, via_grad, traced, concrete = transforms(p[0], v, 0.5)
    np.testing.assert_allclose(tangent, via_grad, rtol=1e-10)
    np.testing.assert_allclose(traced, concrete, rtol=1e-12)


def test_methods_are_forwarded():
    p, t = _data((2, 6)), _data((2, 6))
    a, b = jax.jit(
        lambda: (
            losses.spearman(p, t, softness=1.0, method="neuralsort"),
            losses.spearman(p, t, softness=1.0),
        )
    )()
    assert not np.allclose(a, b)


# --------------------------------------------------------------------------- errors


def test_bad_arguments():
    x, t = jnp.ones((2, 4)), jnp.ones((2, 4))
    cases = [
        (ValueError, "mode", lambda: losses.spearman(x, t, mode="soft")),
        (ValueError, "softness", lambda: losses.ndcg(x, t, softness=0.0)),
        (ValueError, "softness", lambda: losses.quantile_loss(x, t, 0.5, softness=-1.0)),
        (ValueError, "method", lambda: losses.sort_mse(x, t, method="bogus")),
        (ValueError, "method", lambda: losses.spearman(x, t, mode="hard", method="bogus")),
        (ValueError, "smooth_sort", lambda: losses.trimmed_mean(x, 0.1, mode="c0", method="smooth_sort")),
        (ValueError, "pred and target", lambda: losses.spearman(jnp.ones(3), jnp.ones(4))),
        (ValueError, "x and y", lambda: losses.sort_mse(jnp.ones((2, 3)), jnp.ones((2, 4)))),
        (ValueError, "axis", lambda: losses.spearman(x, t, axis=2)),
        (ValueError, "pred", lambda: losses.spearman(1.0, 2.0)),
        (ValueError, "scores", lambda: losses.ndcg(jnp.ones((2, 0)), jnp.ones((2, 0)))),
        (ValueError, "k", lambda: losses.ndcg(x, t, 0)),
        (TypeError, "k", lambda: losses.ndcg(x, t, 1.5)),
        (TypeError, "k", lambda: losses.top_k_accuracy_loss(x, jnp.array([0, 1]), True)),
        (ValueError, "k", lambda: losses.top_k_accuracy_loss(x, jnp.array([0, 1]), 5)),
        (TypeError, "labels", lambda: losses.top_k_accuracy_loss(x, jnp.array([0.0, 1.0]))),
        (ValueError, "labels", lambda: losses.top_k_accuracy_loss(x, jnp.array([0, 1, 2]))),
        (ValueError, "labels", lambda: losses.top_k_accuracy_loss(x, jnp.array([0, 4]))),
        (ValueError, "trim", lambda: losses.trimmed_mean(x, 0.5)),
        (ValueError, "trim", lambda: losses.trimmed_mean(x, -0.1)),
        (TypeError, "trim", lambda: losses.trimmed_mean(x, "0.1")),
        (TypeError, "trim", lambda: jax.jit(lambda tr: losses.trimmed_mean(x, tr))(0.1)),
        (ValueError, "q", lambda: losses.quantile_loss(x, t, 1.5)),
        (ValueError, "pred, target and q", lambda: losses.quantile_loss(x, t, jnp.ones(3) * 0.5)),
        (TypeError, "positional", lambda: losses.spearman(x, t, -1)),
    ]
    for exc, word, call in cases:
        with pytest.raises(exc, match=re.escape(word)):
            call()


# --------------------------------------------------------------------------- public module


def test_public_module():
    assert sj.losses is losses
    assert "losses" in sj.__all__
    assert set(losses.__all__) == {n for n in dir(losses) if not n.startswith("_")} - {"annotations"}


# --------------------------------------------------------------------------- example script


def test_ranking_example_learns():
    script = ROOT / "examples" / "ranking_losses.py"
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout

    def number(prefix: str) -> float:
        match = re.search(rf"^{re.escape(prefix)}\s*([-+0-9.]+)$", out, re.MULTILINE)
        assert match, f"missing {prefix!r} in:\n{out}"
        return float(match.group(1))

    assert number("Hard-mode gradient norm:") == 0.0
    assert number("Soft-mode gradient norm:") > 0.1
    before = number("Test NDCG@10 before training:")
    after = number("Test NDCG@10 after training:")
    best = number("Test NDCG@10 of w_true:")
    assert after > before + 0.3, out
    assert after > best - 0.02, out
    assert number("Cosine(w, w_true):") > 0.95
    # the documented numbers (float64, fixed seeds)
    assert (before, after, best) == (0.3603, 0.9910, 0.9920), out
