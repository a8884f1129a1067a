"""Read a directory in the MovieLens ``ml-latest-small`` layout: ratings.csv, movies.csv and
(optional) tags.csv."""

from __future__ import annotations

import csv
import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import PyrerankError


@dataclasses.dataclass
class Ratings:
    """All ratings sorted by (user, timestamp, item), stable; items with their text.

    user, item, timestamp : (n,) int64; rating : (n,) float32
    item_ids : (m,) int64 ascending, every movie in movies.csv; texts : m strs, same order
    user_texts : per user, the (timestamp, tag) pairs they wrote (tags.csv), oldest first
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    item_ids: np.ndarray
    texts: list[str]
    user_texts: dict[int, list[tuple[int, str]]] = dataclasses.field(default_factory=dict)


def item_text(title: str, genres: str, tags: list[str]) -> str:
    """``"<title> | <genres, comma separated>"``, then ``" | <tags>"`` where the item has any."""
    text = f"{title} | {genres.replace('|', ', ')}"
    return f"{text} | {', '.join(tags)}" if tags else text


def load(folder: str | Path) -> Ratings:
    folder = Path(folder)
    for name in ("ratings.csv", "movies.csv"):
        if not (folder / name).is_file():
            raise PyrerankError(f"{folder} is not in the MovieLens layout: {name} is missing")
    with open(folder / "ratings.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    raw = np.array(rows, dtype=object)
    user = raw[:, 0].astype(np.int64)
    item = raw[:, 1].astype(np.int64)
    rating = raw[:, 2].astype(np.float32)
    timestamp = raw[:, 3].astype(np.int64)
    order = np.lexsort((item, timestamp, user))  # by user, then time, then item; stable
    tags: dict[int, list[str]] = defaultdict(list)
    user_texts: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if (folder / "tags.csv").is_file():
        with open(folder / "tags.csv", newline="", encoding="utf-8") as f:
            for row in list(csv.reader(f))[1:]:
                tag = row[2].strip()
                if tag and tag not in tags[int(row[1])]:
                    tags[int(row[1])].append(tag)
                if tag:
                    user_texts[int(row[0])].append((int(row[3]), tag))
    movies = {}
    with open(folder / "movies.csv", newline="", encoding="utf-8") as f:
        for row in list(csv.reader(f))[1:]:
            movies[int(row[0])] = item_text(row[1], row[2], tags.get(int(row[0]), []))
    item_ids = np.array(sorted(movies), dtype=np.int64)
    texts = [movies[i] for i in item_ids.tolist()]
    by_time = {u: sorted(pairs) for u, pairs in user_texts.items()}
    return Ratings(user[order], item[order], rating[order], timestamp[order], item_ids, texts, by_time)
