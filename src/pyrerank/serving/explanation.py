"""What Reranker.explain returns: the ranker's parts, and reasons in words built from them and
from the user's own items."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..interfaces import Evidence
from .catalog import Catalog
from .features import co_recent
from .item_stats import ItemStats
from .users import UserRecord

SHOWN = 3  # liked items and co-engagement sources named at most
MIN_SIMILARITY = 0.3  # a liked item below this cosine is no reason
NEAR_BEST = 0.1  # nor one this much less similar than the most similar one


class Explanation(dict):
    """The ranker's parts by name ("score" is their sum), as before, plus ``reasons`` (a list
    of strs, the strongest first) and the ``evidence`` they were built from."""

    def __init__(self, parts: dict[str, float], reasons: list[str], evidence: Evidence) -> None:
        super().__init__(parts)
        self.reasons, self.evidence = reasons, evidence

    def __repr__(self) -> str:
        return f"Explanation({dict(self)!r}, reasons={self.reasons!r})"


def display_name(catalog: Catalog, item: Any) -> str:
    """The item's metadata "title" or "name", the metadata itself if a str, else the id."""
    meta = catalog.metadata.get(item)
    if isinstance(meta, dict):
        meta = meta.get("title") or meta.get("name")
    return meta if isinstance(meta, str) and meta else str(item)


def evidence(
    catalog: Catalog,
    stats: ItemStats,
    record: UserRecord | None,
    row: int,
    parts: dict[str, float],
    query: str | None,
) -> Evidence:
    """The evidence for catalog `row` (the caller holds the locks that keep it consistent)."""
    liked: list[tuple[str, float]] = []
    co_engaged: list[tuple[str, float]] = []
    if record is not None and record.recent:
        rows = list(dict.fromkeys(reversed(record.recent)))  # newest first, once each
        similarity = catalog.vectors(rows) @ catalog.vectors(row)
        bar = max(MIN_SIMILARITY, float(similarity.max()) - NEAR_BEST)
        for i in np.argsort(-similarity, kind="stable")[:SHOWN]:
            if similarity[i] >= bar and rows[i] != row:
                liked.append((display_name(catalog, catalog.ids[rows[i]]), float(similarity[i])))
        co_rows = set(co_recent(record.recent))  # those the co-engagement score summed over
        with stats.lock:
            counts = [((stats.co.links(r) or {}).get(row, 0.0), r) for r in rows if r != row and r in co_rows]
        for count, r in sorted(counts, key=lambda c: -c[0])[:SHOWN]:
            if count > 0:
                co_engaged.append((display_name(catalog, catalog.ids[r]), float(count)))
    item = catalog.ids[row]
    return Evidence(item, display_name(catalog, item), parts, tuple(liked), tuple(co_engaged), query)
