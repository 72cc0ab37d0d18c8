"""SoftJAX: soft, differentiable drop-in replacements for discrete JAX operators."""

from importlib.metadata import PackageNotFoundError, version as _version

from softjax._src.safe import arccos, arcsin, div, log, norm, sqrt
from softjax._src.steps import sigmoidal, softrelu
from softjax._src.types import SoftBool, SoftIndex

try:
    __version__ = _version("softjax")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"
