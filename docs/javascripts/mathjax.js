// MathJax 3 configuration for pymdownx.arithmatex (generic mode), which wraps
// every formula in <span class="arithmatex">\( ... \)</span> (or \[ ... \]).
// Loaded before assets/mathjax/tex-chtml.js, the MathJax copy shipped with the
// site (docs/_ext/offline_assets.py): MathJax reads this object when it
// starts and typesets the page once it has loaded.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// No document$ hook: the theme's instant navigation is off, so every page is
// a fresh load that MathJax typesets on startup. (Re-typesetting on the first
// document$ emission, after MathJax has started, cleared its font cache and
// left every formula blank.)
