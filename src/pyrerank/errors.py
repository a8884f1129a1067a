"""Errors and warnings raised by pyrerank."""

from __future__ import annotations


class PyrerankError(Exception):
    """Base class of pyrerank's own errors (bad arguments raise ValueError/TypeError/IndexError)."""


class PyrerankWarning(UserWarning):
    """Something worked, but not the way the caller probably intended (a costly copy, a skip)."""


class StoreError(PyrerankError):
    """A store cannot be opened or reached, or holds data it cannot read."""


class StaleCursor(Exception):
    """A store reader is behind data it needs: entries it has not read were compacted away, or a
    kept record is newer than its cursor. The caller reloads the snapshot (or reads on) and
    tries again; it never reaches the application."""
