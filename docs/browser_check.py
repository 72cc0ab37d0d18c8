"""Open the built documentation in headless Chromium and check what a reader sees.

    python docs/browser_check.py                      # site/ -> site-screenshots/
    python docs/browser_check.py --screenshots DIR    # or BROWSER_CHECK_SCREENSHOTS=DIR

Serves ``site/`` (built by ``bash docs/build.sh``) on a local HTTP server and
opens the home page, every API page (one per ``docs/api/*.md``), the gallery,
the modes page and "Choosing a method". A page fails on:

* a console error or an uncaught exception;
* a formula left as TeX: a literal ``\\(``, ``\\[`` or ``$$`` in the rendered
  text, or a formula MathJax could not parse;
* an image that does not load (``naturalWidth`` 0);
* on API pages, an ``Examples`` section without a ``<pre>`` code block;
* a request to any host other than the local server (it is blocked).

A full-page screenshot of every page is saved. Chromium is the system's
(Debian: ``apt-get install chromium``; or set ``CHROMIUM=/path``): playwright
drives it through ``executable_path`` and downloads no browser. Exit status 0
when every page passes, 1 when one fails, 2 when the check cannot run.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
LOCAL_SCHEMES = ("data", "blob", "about")
# Pages besides the API reference, as built with use_directory_urls: false.
GUIDE_PAGES = (
    "index.html",
    "gallery.html",
    "modes.html",
    "choosing-a-method.html",
    "architecture.html",
    "coverage.html",
)
PAGE_TIMEOUT_MS = 30_000

# Runs in the page once it has loaded; returns what the check needs.
_INSPECT_JS = r"""
async (isApi) => {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) await mj.startup.promise;
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
  })));
  const text = document.body.innerText;
  const rawMath = [];
  for (const token of ["\\(", "\\[", "$$"]) {
    let at = text.indexOf(token);
    while (at !== -1 && rawMath.length < 5) {
      rawMath.push(text.slice(Math.max(0, at - 30), at + 50).replace(/\s+/g, " "));
      at = text.indexOf(token, at + token.length);
    }
  }
  const mathErrors = [...document.querySelectorAll("mjx-merror")].map(
    (e) => e.getAttribute("data-mjx-error") || e.textContent.slice(0, 80));
  // A typeset formula that is displayed but has no width shows nothing.
  const blankMath = [...document.querySelectorAll("mjx-container")].filter(
    (e) => e.offsetParent !== null && e.getBoundingClientRect().width === 0).length;
  const brokenImages = images.filter((img) => img.naturalWidth === 0).map(
    (img) => img.getAttribute("src"));
  const examplesWithoutCode = [];
  if (isApi) {
    const isTitle = (e) => /^examples?:?$/i.test(e.textContent.trim());
    const titles = [...document.querySelectorAll(
      ".doc-section-title, .admonition-title, summary, .md-typeset p")].filter(isTitle);
    const seen = new Set();
    for (const title of titles) {
      let hasCode = false;
      if (title.matches(".admonition-title, summary")) {
        hasCode = !!title.parentElement.querySelector("pre");
      } else {
        const start = title.closest("p") || title;
        if (seen.has(start)) continue;
        seen.add(start);
        for (let el = start.nextElementSibling; el; el = el.nextElementSibling) {
          if (el.matches(".doc-section-title") || el.querySelector(".doc-section-title")) break;
          if (el.matches("h1, h2, h3, h4, h5, h6")) break;
          if (el.matches("pre") || el.querySelector("pre")) { hasCode = true; break; }
        }
      }
      if (!hasCode) {
        const owner = title.closest(".doc-object");
        const heading = owner && owner.querySelector(".doc-heading");
        examplesWithoutCode.push(heading ? heading.id : title.textContent.trim());
      }
    }
  }
  return {rawMath, mathErrors, blankMath, brokenImages, examplesWithoutCode};
}
"""


@dataclass
class PageResult:
    page: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    screenshot: Path | None = None


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium executable: ``explicit``, ``$CHROMIUM``, or one on ``PATH``."""
    for candidate in (explicit, os.environ.get("CHROMIUM")):
        if candidate:
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def default_pages(site: Path, docs: Path = ROOT / "docs") -> list[str]:
    """Home, one page per ``docs/api/*.md``, the gallery, modes and "Choosing a method"."""
    names = list(GUIDE_PAGES[:1])
    names += [f"api/{md.stem}.html" for md in sorted((docs / "api").glob("*.md"))]
    names += list(GUIDE_PAGES[1:])
    pages = []
    for name in names:
        page = name
        directory_url = name.removesuffix(".html") + "/index.html"
        if not (site / name).is_file() and (site / directory_url).is_file():
            page = directory_url  # a site built with use_directory_urls: true
        pages.append(page)
    return pages


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port); yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _screenshot_name(page: str) -> str:
    return page.removesuffix(".html").replace("/", "-") + ".png"


def check_pages(
    directory: Path,
    pages: list[str],
    screenshots: Path | None = None,
    chromium: str | None = None,
    api_prefix: str = "api/",
) -> list[PageResult]:
    """Open ``pages`` (paths relative to ``directory``) and return each page's problems.

    Pages whose path starts with ``api_prefix`` also get the ``Examples`` check.
    """
    from playwright.sync_api import sync_playwright

    executable = find_chromium(chromium)
    if executable is None:
        raise FileNotFoundError("no Chromium found: apt-get install chromium, or set CHROMIUM=/path")
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    results = []
    with serve(directory) as base, sync_playwright() as playwright:
        origin = urlsplit(base).netloc
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            outside: list[str] = []

            def route(route_, request) -> None:
                url = urlsplit(request.url)
                if url.scheme in LOCAL_SCHEMES or url.netloc == origin:
                    route_.continue_()
                else:
                    outside.append(request.url)
                    route_.abort()

            context.route("**/*", route)
            results.extend(
                _check_page(context, base, page_path, outside, screenshots, page_path.startswith(api_prefix))
                for page_path in pages
            )
        finally:
            browser.close()
    return results


def _check_page(
    context, base: str, page_path: str, outside: list[str], screenshots, is_api: bool
) -> PageResult:
    result = PageResult(page_path)
    start = time.perf_counter()
    errors: list[str] = []
    outside.clear()
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.on(
        "console", lambda msg: errors.append(f"console error: {msg.text}") if msg.type == "error" else None
    )
    page.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    page.on(
        "requestfailed",
        lambda req: (
            None
            if urlsplit(req.url).netloc != urlsplit(base).netloc
            else errors.append(f"request failed: {req.url} ({req.failure})")
        ),
    )
    try:
        response = page.goto(base + page_path, wait_until="load")
        if response is None or not response.ok:
            status = response.status if response is not None else "no response"
            result.problems.append(f"page did not load: HTTP {status}")
        else:
            found = page.evaluate(_INSPECT_JS, is_api)
            page.wait_for_timeout(100)  # let late console messages arrive
            for snippet in found["rawMath"]:
                result.problems.append(f"formula left as TeX: ...{snippet}...")
            for message in found["mathErrors"]:
                result.problems.append(f"MathJax error: {message}")
            if found["blankMath"]:
                result.problems.append(f"{found['blankMath']} typeset formulas are blank (zero width)")
            for src in found["brokenImages"]:
                result.problems.append(f"image did not load: {src}")
            for owner in found["examplesWithoutCode"]:
                result.problems.append(f"Examples section without a code block: {owner}")
            if screenshots is not None:
                result.screenshot = screenshots / _screenshot_name(page_path)
                page.screenshot(path=str(result.screenshot), full_page=True)
    except Exception as exc:  # noqa: BLE001 - a timeout or a crashed page fails that page only
        result.problems.append(f"could not check the page: {type(exc).__name__}: {exc}")
    finally:
        page.close()
    result.problems.extend(errors)
    result.problems.extend(f"request to another host (blocked): {url}" for url in outside)
    result.seconds = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="built site (default: site/)")
    parser.add_argument(
        "--screenshots",
        type=Path,
        default=Path(os.environ.get("BROWSER_CHECK_SCREENSHOTS", ROOT / "site-screenshots")),
        help="folder for full-page screenshots (default: $BROWSER_CHECK_SCREENSHOTS or site-screenshots/)",
    )
    parser.add_argument("--chromium", help="Chromium executable (default: $CHROMIUM or chromium on PATH)")
    args = parser.parse_args(argv)

    if not (args.site / "index.html").is_file():
        print(f"browser check: no built site in {args.site} (run: bash docs/build.sh)", file=sys.stderr)
        return 2
    try:
        import playwright  # noqa: F401
    except ImportError:
        print('browser check: playwright is missing (python -m pip install -e ".[docs]")', file=sys.stderr)
        return 2
    if find_chromium(args.chromium) is None:
        print(
            "browser check: no Chromium found (apt-get install chromium, or set CHROMIUM=/path)",
            file=sys.stderr,
        )
        return 2

    start = time.perf_counter()
    pages = default_pages(args.site)
    results = check_pages(args.site, pages, args.screenshots, args.chromium)
    failed = [r for r in results if r.problems]
    for r in results:
        print(f"{'FAIL' if r.problems else 'ok  '} {r.page} ({r.seconds:.1f} s)")
        for problem in r.problems:
            print(f"       {problem}")
    elapsed = time.perf_counter() - start
    print(
        f"browser check: {len(results) - len(failed)} of {len(results)} pages passed in {elapsed:.0f} s; "
        f"screenshots in {args.screenshots}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
