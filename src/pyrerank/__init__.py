"""pyrerank: real-time personalized re-ranking, in-process."""

from __future__ import annotations

from .errors import PyrerankError, PyrerankWarning

__version__ = "0.1.0"

__all__ = ["PyrerankError", "PyrerankWarning", "__version__"]
