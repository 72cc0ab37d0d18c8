"""docs/browser_check.py fails on what a reader would see broken, and passes a clean page.

Runs headless Chromium on two small synthetic pages; skipped when playwright
(the ``docs`` extra) or a Chromium executable is not available.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")

_PATH = Path(__file__).resolve().parents[1] / "docs" / "browser_check.py"
_spec = importlib.util.spec_from_file_location("browser_check", _PATH)
browser_check = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("browser_check", browser_check)  # dataclasses look the module up
_spec.loader.exec_module(browser_check)

if browser_check.find_chromium() is None:
    pytest.skip("no Chromium executable (apt-get install chromium)", allow_module_level=True)

# A Griffe "Example:" admonition whose doctest collapsed into blockquotes, a
# formula left as TeX, a console error, a missing image and a request to
# another host.
_BROKEN = r"""<!doctype html><html><head><title>broken</title></head><body>
<div class="md-typeset">
<p>The step is <span class="arithmatex">\(S(x) = \sigma(x/s)\)</span>.</p>
<div class="doc doc-object doc-function">
<h2 id="softjax.thing" class="doc doc-heading">softjax.thing</h2>
<details class="example"><summary>Example</summary>
<blockquote><blockquote><blockquote><p>import softjax as sj
sj.thing(1.0) Array(1., dtype=float32)</p></blockquote></blockquote></blockquote>
</details>
</div>
<img src="missing.png" alt="missing">
<img src="http://example.invalid/remote.png" alt="remote">
</div>
<script>console.error("something broke");</script>
</body></html>
"""

_CLEAN = """<!doctype html><html><head><title>clean</title></head><body>
<div class="md-typeset">
<div class="doc doc-object doc-function">
<h2 id="softjax.thing" class="doc doc-heading">softjax.thing</h2>
<p><span class="doc-section-title">Examples:</span></p>
<div class="highlight"><pre><code>&gt;&gt;&gt; sj.thing(1.0)
Array(1., dtype=float32)</code></pre></div>
</div>
</div>
</body></html>
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("site")
    (root / "api").mkdir()
    (root / "api" / "broken.html").write_text(_BROKEN, encoding="utf-8")
    (root / "api" / "clean.html").write_text(_CLEAN, encoding="utf-8")
    shots = root / "shots"
    checked = browser_check.check_pages(root, ["api/broken.html", "api/clean.html"], screenshots=shots)
    assert (shots / "api-broken.png").is_file() and (shots / "api-clean.png").is_file()
    return {r.page: r.problems for r in checked}


def _has(problems: list[str], text: str) -> bool:
    return any(text in problem for problem in problems)


def test_raw_formula_fails(results):
    assert _has(results["api/broken.html"], "formula left as TeX")


def test_collapsed_example_fails(results):
    assert _has(results["api/broken.html"], "Examples section without a code block: softjax.thing")


def test_console_error_fails(results):
    assert _has(results["api/broken.html"], "console error: something broke")


def test_missing_image_fails(results):
    assert _has(results["api/broken.html"], "image did not load: missing.png")


def test_other_host_is_blocked_and_fails(results):
    assert _has(
        results["api/broken.html"], "request to another host (blocked): http://example.invalid/remote.png"
    )


def test_clean_page_passes(results):
    assert results["api/clean.html"] == []


def test_main_fails_without_a_site(tmp_path, capsys):
    assert browser_check.main(["--site", str(tmp_path), "--screenshots", str(tmp_path / "s")]) == 2
    assert "no built site" in capsys.readouterr().err
