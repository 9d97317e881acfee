"""fastdenoise: fast image denoising with native classical filters and trained deep models."""

from fastdenoise.api import denoise
from fastdenoise.methods import available as available_methods

__version__ = "0.1.0"
__all__ = ["__version__", "available_methods", "denoise"]
