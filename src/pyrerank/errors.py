"""Errors and warnings raised by pyrerank."""

from __future__ import annotations


class PyrerankError(Exception):
    """Base class of pyrerank's own errors (bad arguments raise ValueError/TypeError/IndexError)."""


class PyrerankWarning(UserWarning):
    """Something worked, but not the way the caller probably intended (a costly copy, a skip)."""
