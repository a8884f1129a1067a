"""Who added what to the item statistics: every counted event, in order, with its user, so that
one user's events can be taken out of the statistics exactly (ItemStats.forget)."""

from __future__ import annotations

import array
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

import numpy as np

from ..errors import PyrerankError
from ..interfaces import user_key

# Column -> (numpy dtype, array.array type code of the same width).
COLUMNS = {
    "user": (np.int32, "i"),
    "row": (np.int32, "i"),
    "weight": (np.float64, "d"),
    "time": (np.float64, "d"),
    "n_links": (np.int32, "i"),
}


class Contributions:
    """The counted events, oldest first, as columns: user number, catalog row, weight, time and
    the rows the event was linked with (co-engagement), plus the user of each number. Appended
    to compact typed buffers (array.array: ~0.3 µs an event, no Python object kept per event).

    Memory: 28 bytes per counted event and 4 per link (at most 5 links an event: about 48
    bytes), plus one dict entry per user (about 100 bytes).
    """

    def __init__(self) -> None:
        self.user_number: dict[Hashable, int] = {}
        self._next_number = 0
        self._buffers: dict[str, array.array[Any]] = {name: array.array(code) for name, (_, code) in COLUMNS.items()}
        self._links = array.array("i")  # every event's links, one after another
        self.complete = True  # False once statistics arrived without their contributions

    def __len__(self) -> int:
        return len(self._buffers["row"])

    def add(self, user: Hashable, row: int, weight: float, timestamp: float, links: list[int]) -> None:
        """One counted event (after it went into the statistics)."""
        number = self.user_number.get(user)
        if number is None:
            number = self.user_number[user] = self._next_number
            self._next_number += 1
        b = self._buffers
        b["user"].append(number)
        b["row"].append(row)
        b["weight"].append(weight)
        b["time"].append(timestamp)
        b["n_links"].append(len(links))
        self._links.extend(links)

    def columns(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Copies of the columns ((n,) each) and of the links ((Σ n_links,) int32)."""
        columns = {name: np.array(self._buffers[name], dtype) for name, (dtype, _) in COLUMNS.items()}
        return columns, np.array(self._links, np.int32)

    def _set(self, columns: Mapping[str, np.ndarray], links: np.ndarray) -> None:
        for name, (dtype, code) in COLUMNS.items():
            self._buffers[name] = array.array(code, np.ascontiguousarray(columns[name], dtype).tobytes())
        self._links = array.array("i", np.ascontiguousarray(links, np.int32).tobytes())

    def remove(self, user: Hashable) -> np.ndarray | None:
        """Drop the user's events; (m,) int64 rows whose statistics they touched (their items
        and the items they were linked with), or None if the user added nothing."""
        number = self.user_number.pop(user, None)
        if number is None:
            return None
        columns, links = self.columns()
        mine = columns["user"] == number
        link_mine = np.repeat(mine, columns["n_links"])
        touched = np.union1d(columns["row"][mine], links[link_mine]).astype(np.int64)
        self._set({name: column[~mine] for name, column in columns.items()}, links[~link_mine])
        return touched

    def touching(self, rows: np.ndarray) -> Iterator[tuple[int, float, float, list[int]]]:
        """(row, weight, time, links) of every event on one of `rows` or linked with one, oldest
        first."""
        c, all_links = self.columns()
        starts = np.concatenate([[0], np.cumsum(c["n_links"])]).astype(np.int64)
        linked = np.zeros(len(c["row"]), bool)
        hits = np.flatnonzero(np.isin(all_links, rows))
        if len(hits):
            linked[np.searchsorted(starts, hits, side="right") - 1] = True
        for i in np.flatnonzero(np.isin(c["row"], rows) | linked).tolist():
            links = all_links[starts[i] : starts[i + 1]].tolist()
            yield int(c["row"][i]), float(c["weight"][i]), float(c["time"][i]), links

    def copy(self) -> Contributions:
        out = Contributions()
        out.user_number, out._next_number, out.complete = dict(self.user_number), self._next_number, self.complete
        out._buffers = {name: array.array(buffer.typecode, buffer) for name, buffer in self._buffers.items()}
        out._links = array.array("i", self._links)
        return out

    def to_arrays(self) -> tuple[dict[str, np.ndarray], list[Any]]:
        """(arrays named ``contrib_<column>`` and ``contrib_links``, the users in number order
        as JSON values), user numbers renumbered 0, 1, ... in that order."""
        columns, links = self.columns()
        users = sorted(self.user_number.items(), key=lambda kv: kv[1])
        renumber = np.full(self._next_number, -1, np.int32)
        renumber[[n for _, n in users]] = np.arange(len(users), dtype=np.int32)
        arrays = {f"contrib_{name}": column for name, column in columns.items()}
        arrays["contrib_user"] = renumber[columns["user"]] if len(users) else columns["user"]
        arrays["contrib_links"] = links
        return arrays, [user for user, _ in users]

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], users: list[Any] | None, n_rows: int, here: np.ndarray | None
    ) -> Contributions:
        """The inverse of to_arrays for statistics of `n_rows` saved rows (``complete`` False
        where `users` is None: saved before 0.3); `here` maps saved rows to this catalog's rows
        (-1: not here; its events and links are left out), None keeps them."""
        out = cls()
        if users is None:
            out.complete = False
            return out
        try:
            columns = {name: np.asarray(arrays[f"contrib_{name}"], dtype) for name, (dtype, _) in COLUMNS.items()}
            links = np.asarray(arrays["contrib_links"], np.int32)
        except KeyError as exc:
            raise PyrerankError(f"item statistics are missing their contributions ({exc})") from None
        n = len(columns["row"])
        lengths_ok = all(len(c) == n for c in columns.values()) and int(columns["n_links"].sum()) == len(links)
        users_ok = ((columns["user"] >= 0) & (columns["user"] < len(users))).all() and (columns["n_links"] >= 0).all()
        rows_ok = all(((r >= 0) & (r < n_rows)).all() for r in (columns["row"], links))
        finite = np.isfinite(columns["weight"]).all() and np.isfinite(columns["time"]).all()
        if not (lengths_ok and users_ok and rows_ok and finite):
            raise PyrerankError("item statistics' contributions are inconsistent (lengths, users, rows or values)")
        if here is not None:
            owner = np.repeat(np.arange(n), columns["n_links"])
            links = here[links] if len(links) else links
            kept_link = links >= 0
            columns["n_links"] = np.bincount(owner[kept_link], minlength=n).astype(np.int32)
            links = links[kept_link]
            rows = here[columns["row"]] if n else columns["row"]
            keep = rows >= 0
            links = links[np.repeat(keep, columns["n_links"])]
            columns = {name: c[keep] for name, c in columns.items()}
            columns["row"] = rows[keep]
        out._set(columns, links)
        out.user_number = {user_key(u): i for i, u in enumerate(users)}
        out._next_number = len(users)
        return out
