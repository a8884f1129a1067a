"""Progress bars on stderr for long jobs (fit, eval), when tqdm is installed."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress_bar(
    iterable: Iterable[Any], total: int, desc: str, show: bool | None, unit: str = "step"
) -> Iterable[Any]:
    """`iterable`, drawn as a bar when `show` is True, or None on a terminal."""
    if not (show or (show is None and sys.stderr.isatty())):
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr)
