"""Who added what to the item statistics: every unsettled counted event, in order, with its
user, so that one user's events can be taken out of the statistics exactly (ItemStats.forget)."""

from __future__ import annotations

import array
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from ..errors import PyrerankError
from ..interfaces import user_key

# The columns as columns() gives them -> their numpy dtype.
COLUMNS = {"user": np.int32, "row": np.int32, "weight": np.float64, "time": np.float64, "n_links": np.int32}
TAIL = 5  # a user's last contributions whose rows an event's links may be (users.CO_PAIRS)
OWN_LINKS = -1  # an event's `links` code where its links are stored, not derived


class Contributions:
    """The counted events not yet settled, oldest first, as columns: user number, catalog row,
    weight, time and the rows the event was linked with (co-engagement), plus the user of each
    number. Appended to compact typed buffers (array.array: no Python object kept per event);
    the oldest are dropped as they settle (drop_oldest).

    An event's links are almost always the rows of its user's previous positives, which are their
    previous contributions: such links are not stored but derived (the event keeps their count,
    and columns() reads them off the user's earlier events, or off the rows of their last TAIL
    settled events); others are stored as they came. Weights are held as float32 until one needs
    float64.

    Memory: 21 bytes per counted event (user, row, weight, time, links code) and 4 per stored
    link, plus per user with an event here a dict entry (about 100 bytes) and the rows of their
    last TAIL contributions and last TAIL settled ones (40 bytes).
    """

    def __init__(self) -> None:
        self.user_number: dict[Hashable, int] = {}
        self._user_of: list[Hashable] = []  # by number: the user it was given to (None once gone)
        self._next_number = 0
        self._user, self._row, self._time = array.array("i"), array.array("i"), array.array("d")
        self._weight = array.array("f")  # "d" once a weight is not a float32
        self._codes = array.array("b")  # per event: k >= 0 derived links, or OWN_LINKS
        self._own_counts, self._own_links = array.array("i"), array.array("i")  # events with OWN_LINKS
        self._tail = array.array("i")  # per user number: their last TAIL events' rows, -1 before the first
        self._settled_tail = array.array("i")  # per user number: their last TAIL settled events' rows
        self.complete = True  # False once statistics arrived without their contributions

    def __len__(self) -> int:
        return len(self._row)

    @property
    def nbytes(self) -> int:
        """Bytes the buffers' entries take (their growth room and the user dict aside)."""
        return sum(len(getattr(self, name)) * getattr(self, name).itemsize for name in _BUFFERS)

    def add(self, user: Hashable, row: int, weight: float, timestamp: float, links: list[int]) -> None:
        """One counted event (after it went into the statistics)."""
        number = self.user_number.get(user)
        if number is None:
            number = self.user_number[user] = self._next_number
            self._user_of.append(user)
            self._next_number += 1
            self._tail.extend(_NO_TAIL)
            self._settled_tail.extend(_NO_TAIL)
        at = number * TAIL
        tail = self._tail[at : at + TAIL]
        k = len(links)
        if k <= TAIL and tail.tolist()[TAIL - k :] == links:
            self._codes.append(k)
        else:
            self._codes.append(OWN_LINKS)
            self._own_counts.append(k)
            self._own_links.extend(links)
        del tail[0]
        tail.append(row)
        self._tail[at : at + TAIL] = tail
        weights = self._weight
        if weights.typecode == "f":
            _FLOAT32[0] = weight
            if _FLOAT32[0] != weight:
                weights = self._weight = array.array("d", weights)
        weights.append(weight)
        self._user.append(number)
        self._row.append(row)
        self._time.append(timestamp)

    def columns(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Copies of the columns ((n,) each, COLUMNS' dtypes) and of every event's links, one
        after another ((Σ n_links,) int32)."""
        return self._events(np.arange(len(self)))

    def _events(self, index: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """columns() of the events at (m,) int64 `index` (ascending), which must hold every
        event of each user whose derived links are wanted: they are read off those events."""
        code = _view(self._codes)
        own_all = code == OWN_LINKS
        counts = code.astype(np.int64)
        counts[own_all] = _view(self._own_counts)
        own_start = np.zeros(len(code), np.int64)  # where an own-links event's links start
        own_start[own_all] = np.cumsum(_view(self._own_counts)) - _view(self._own_counts)
        user, row, n_links = _view(self._user)[index], _view(self._row)[index], counts[index]
        owner, slot, back = _link_slots(user, n_links)
        own = own_all[index][owner]
        links = np.empty(len(owner), np.int32)
        links[own] = _view(self._own_links)[own_start[index][owner[own]] + slot[own]]
        derived, settled = ~own & (back >= 0), ~own & (back < 0)
        links[derived] = row[back[derived]]
        links[settled] = _view(self._settled_tail)[user[owner[settled]] * TAIL + TAIL + back[settled]]
        columns = {"user": user, "row": row, "weight": _view(self._weight)[index].astype(np.float64)}
        columns.update(time=_view(self._time)[index], n_links=n_links.astype(np.int32))
        return columns, links

    def _set(self, columns: Mapping[str, np.ndarray], links: np.ndarray) -> None:
        """Hold `columns` and `links` (as columns() gives them; user numbers below _next_number),
        links derived wherever they are the rows of the user's previous events."""
        user, row = np.ascontiguousarray(columns["user"], np.int32), np.ascontiguousarray(columns["row"], np.int32)
        n_links = np.asarray(columns["n_links"], np.int64)
        links = np.asarray(links, np.int32)
        order = np.argsort(user, kind="stable")  # shared by the links and the tails
        owner, _, back = _link_slots(user, n_links, order)
        valid = back >= 0
        wrong = np.bincount(owner[~valid | (row[np.maximum(back, 0)] != links)], minlength=len(row))
        derived = (wrong == 0) & (n_links <= TAIL)
        self._user, self._row = array.array("i", user.tobytes()), array.array("i", row.tobytes())
        weight = np.asarray(columns["weight"], np.float64)
        held = weight.astype(np.float32) if (weight.astype(np.float32) == weight).all() else weight
        self._weight = array.array("f" if held.dtype == np.float32 else "d", held.tobytes())
        self._time = array.array("d", np.ascontiguousarray(columns["time"], np.float64).tobytes())
        self._codes = array.array("b", np.where(derived, n_links, OWN_LINKS).astype(np.int8).tobytes())
        self._own_counts = array.array("i", n_links[~derived].astype(np.int32).tobytes())
        self._own_links = array.array("i", links[np.repeat(~derived, n_links)].tobytes())
        self._tail = array.array("i", _tails(user, row, self._next_number, order).tobytes())
        self._settled_tail = array.array("i", _NO_TAIL * self._next_number)  # no link is derived from one

    def touched_by(self, user: Hashable) -> tuple[np.ndarray, np.ndarray] | None:
        """The user's events as (m,) int64 positions, oldest first, and the rows whose statistics
        they touched ((r,) int64: their items and the items they were linked with); None if the
        user has no event here."""
        number = self.user_number.get(user)
        if number is None:
            return None
        mine = np.flatnonzero(_view(self._user) == number)
        columns, links = self._events(mine)
        return mine, np.union1d(columns["row"], links).astype(np.int64)

    def remove(self, user: Hashable, positions: np.ndarray) -> None:
        """Drop the user's events, at the (m,) int64 `positions` touched_by gave. The others'
        links are derived from their own events: they stay as they are."""
        self._user_of[self.user_number.pop(user)] = None  # the number is not given again
        mine = np.zeros(len(self), bool)
        mine[positions] = True
        own = _view(self._codes) == OWN_LINKS
        own_links_kept = np.repeat(~mine[own], _view(self._own_counts))
        for name, keep in (*((name, ~mine) for name in _EVENT_BUFFERS), ("_own_counts", ~mine[own])):
            setattr(self, name, _kept(getattr(self, name), keep))
        self._own_links = _kept(self._own_links, own_links_kept)

    def drop_oldest(self, n: int) -> None:
        """Drop the first `n` events (settled: counted for good); users left with none are
        dropped. A later event's links derived from a dropped event are read off the user's
        settled tail. Costs a sort of n user numbers and moving the buffers down in place, not a
        rebuild, and no temporary as large as the users (such ones, freed at every step, left
        the heap fragmented)."""
        user, row = _view(self._user), _view(self._row)
        losing, local, dropped = np.unique(user[:n], return_inverse=True, return_counts=True)
        latest = _tails(local, row[:n], len(losing), np.argsort(local, kind="stable")).reshape(-1, TAIL)
        settled = _view(self._settled_tail).reshape(-1, TAIL)
        both = np.concatenate([settled[losing], latest], axis=1)
        shift = np.minimum(dropped, TAIL)[:, None] + np.arange(TAIL)  # the last TAIL of both's rows
        settled[losing] = np.take_along_axis(both, np.where(shift < TAIL, shift, TAIL + np.arange(TAIL)), axis=1)
        first = int(np.count_nonzero(_view(self._codes)[:n] == OWN_LINKS))  # own-links events dropped
        cut = int(_view(self._own_counts)[:first].sum())
        still = np.zeros(self._next_number, bool)
        still[user[n:]] = True
        gone = losing[~still[losing]]
        del user, row, settled  # views: the buffers are resized below
        del self._own_counts[:first], self._own_links[:cut]
        for name in _EVENT_BUFFERS:
            del getattr(self, name)[:n]
        for number in gone.tolist():
            del self.user_number[self._user_of[number]]
            self._user_of[number] = None
        if self._next_number > 2 * len(self.user_number) + 1024:
            self._compact()

    def _compact(self) -> None:
        """Number the users 0, 1, ... again (numbers of users gone hold a tail each)."""
        live = np.array(sorted(self.user_number.values()), np.int64)
        renumber = np.full(self._next_number, -1, np.int32)
        renumber[live] = np.arange(len(live), dtype=np.int32)
        self._user = array.array("i", renumber[_view(self._user)].tobytes())
        for name in ("_tail", "_settled_tail"):
            setattr(self, name, array.array("i", _view(getattr(self, name)).reshape(-1, TAIL)[live].tobytes()))
        self._user_of = [self._user_of[k] for k in live.tolist()]
        self.user_number = {u: k for k, u in enumerate(self._user_of)}
        self._next_number = len(live)

    def oldest(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the first `n` events' (n,) int32 rows, float64 weights and float64 times."""
        return _view(self._row)[:n].copy(), _view(self._weight)[:n].astype(np.float64), _view(self._time)[:n].copy()

    def touching(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """The events on one of `rows` or linked with one, oldest first: their (m,) int64
        positions and columns() of them. Only the events that can be are expanded: those on
        `rows`, every event of their users (whose later events derive links from them) and of
        users whose settled tail names one, and those whose stored links name one."""
        user, own = _view(self._user), _view(self._codes) == OWN_LINKS
        on = among(_view(self._row), rows)
        settled_on = np.flatnonzero(among(_view(self._settled_tail), rows).reshape(-1, TAIL).any(axis=1))
        own_events = np.repeat(np.flatnonzero(own), _view(self._own_counts))
        wanted = among(user, np.concatenate([user[on].astype(np.int64), settled_on]))
        wanted[own_events[among(_view(self._own_links), rows)]] = True
        expanded = np.flatnonzero(wanted)
        columns, links = self._events(expanded)
        owner = np.repeat(np.arange(len(expanded)), columns["n_links"])
        linked = np.zeros(len(expanded), bool)
        linked[owner[among(links, rows)]] = True
        hit = among(columns["row"], rows) | linked
        return expanded[hit], {name: c[hit] for name, c in columns.items()}, links[np.repeat(hit, columns["n_links"])]

    def copy(self) -> Contributions:
        out = Contributions()
        out.user_number, out._next_number, out.complete = dict(self.user_number), self._next_number, self.complete
        out._user_of = list(self._user_of)
        for name in _BUFFERS:
            buffer = getattr(self, name)
            setattr(out, name, array.array(buffer.typecode, buffer))
        return out

    def to_arrays(self) -> tuple[dict[str, np.ndarray], list[Any]]:
        """(arrays named ``contrib_<buffer>`` as held: user, row, weight, time, codes,
        own_counts, own_links and settled_tail; the users in number order as JSON values), user
        numbers renumbered 0, 1, ... in that order."""
        users = sorted(self.user_number.items(), key=lambda kv: kv[1])
        numbers = np.array([n for _, n in users], np.int64)
        renumber = np.full(self._next_number, -1, np.int32)
        renumber[numbers] = np.arange(len(users), dtype=np.int32)
        arrays = {f"contrib{name}": _view(getattr(self, name)).copy() for name in _SAVED}
        arrays["contrib_user"] = renumber[arrays["contrib_user"]]
        arrays["contrib_settled_tail"] = arrays["contrib_settled_tail"].reshape(-1, TAIL)[numbers].reshape(-1)
        return arrays, [user for user, _ in users]

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], users: list[Any] | None, n_rows: int, here: np.ndarray | None
    ) -> Contributions:
        """The inverse of to_arrays for statistics of `n_rows` saved rows (``complete`` False
        where `users` is None: saved before 0.3; earlier saves' layout, every event's links
        stored as columns() gives them, is read too); `here` maps saved rows to this catalog's
        rows (-1: not here; its events and links are left out), None keeps them.
        PyrerankError if the arrays disagree."""
        out = cls()
        if users is None:
            out.complete = False
            return out
        out._user_of = [user_key(u) for u in users]
        out.user_number = {u: i for i, u in enumerate(out._user_of)}
        out._next_number = len(users)
        try:
            if "contrib_links" in arrays:  # an earlier save: every event's links stored
                columns = {name: np.asarray(arrays[f"contrib_{name}"], dtype) for name, dtype in COLUMNS.items()}
                links = np.asarray(arrays["contrib_links"], np.int32)
                _check(columns, links, len(users), n_rows)
                out._set(columns, links)
            else:  # checked by _hold; saves without settled tails settled nothing
                saved = {name: np.asarray(arrays[f"contrib{name}"]) for name in _SAVED if f"contrib{name}" in arrays}
                out._hold({"_settled_tail": np.full(len(users) * TAIL, -1, np.int32), **saved}, n_rows)
        except KeyError as exc:
            raise PyrerankError(f"item statistics are missing their contributions ({exc})") from None
        out.move(here)
        return out

    def move(self, here: np.ndarray | None) -> None:
        """Rows as (n_rows,) int64 `here` maps them to a catalog's (-1: not there; its events and
        links to it are left out); None keeps them."""
        if here is None or (here >= 0).all():  # every item is there: rows renumbered in place
            self._renumber(here)
            return
        columns, links = _moved(*self.columns(), here)
        self._set(columns, links)

    def _hold(self, saved: Mapping[str, np.ndarray], n_rows: int) -> None:
        """Take to_arrays' buffers (users numbered below _next_number, rows below `n_rows`);
        PyrerankError unless they agree (types, lengths, links codes, derivable links, values)."""
        typecodes = {**_TYPECODES, "_weight": "f" if saved["_weight"].dtype == np.float32 else "d"}
        try:
            held = {name: np.asarray(saved[name]).astype(typecodes[name], casting="safe") for name in _SAVED}
        except TypeError:
            raise PyrerankError("item statistics' contributions are inconsistent (types)") from None
        code, counts = held["_codes"], held["_own_counts"]
        if not all(a.ndim == 1 for a in held.values()):
            raise PyrerankError("item statistics' contributions are inconsistent (shapes)")
        own = code == OWN_LINKS
        lengths_ok = all(len(held[b]) == len(code) for b in _EVENT_BUFFERS) and len(counts) == own.sum()
        counts_ok = (counts >= 0).all() and counts.sum() == len(held["_own_links"])
        if not (lengths_ok and counts_ok and ((code >= OWN_LINKS) & (code <= TAIL)).all()):
            raise PyrerankError("item statistics' contributions are inconsistent (lengths or links counts)")
        user, row, settled = held["_user"], held["_row"], held["_settled_tail"]
        users_ok = ((user >= 0) & (user < self._next_number)).all()
        rows_ok = all(((r >= 0) & (r < n_rows)).all() for r in (row, held["_own_links"]))  # derived: rows too
        settled_ok = len(settled) == self._next_number * TAIL and ((settled >= -1) & (settled < n_rows)).all()
        values_ok = np.isfinite(held["_weight"]).all() and np.isfinite(held["_time"]).all()
        if not (users_ok and rows_ok and settled_ok and values_ok):
            raise PyrerankError("item statistics' contributions are inconsistent (users, rows or values)")
        order = np.argsort(user, kind="stable")  # shared by the links' check and the tails
        owner, _, back = _link_slots(user, np.where(own, 0, code), order)
        before = back < 0  # read off the user's settled tail, which must hold that many rows
        if (settled[user[owner[before]] * TAIL + TAIL + back[before]] < 0).any():
            raise PyrerankError("item statistics' contributions are inconsistent (links before a user's first event)")
        for name, value in held.items():
            setattr(self, name, array.array(typecodes[name], value.tobytes()))
        self._tail = array.array("i", _tails(user, row, self._next_number, order).tobytes())

    def _renumber(self, here: np.ndarray | None) -> None:
        """Rows as (n_saved_rows,) int64 `here` maps them, every one to a row (None: unchanged)."""
        if here is None:
            return
        self._row = array.array("i", here[_view(self._row)].astype(np.int32).tobytes())
        self._own_links = array.array("i", here[_view(self._own_links)].astype(np.int32).tobytes())
        for name in ("_tail", "_settled_tail"):
            tail = _view(getattr(self, name))
            moved = np.where(tail >= 0, here[np.maximum(tail, 0)], -1).astype(np.int32)
            setattr(self, name, array.array("i", moved.tobytes()))


def _check(columns: Mapping[str, np.ndarray], links: np.ndarray, n_users: int, n_rows: int) -> None:
    """PyrerankError unless columns() and its links agree in length, user numbers (below
    `n_users`), rows (below `n_rows`) and finite values."""
    n = len(columns["row"])
    lengths_ok = all(len(c) == n for c in columns.values()) and int(columns["n_links"].sum()) == len(links)
    users_ok = ((columns["user"] >= 0) & (columns["user"] < n_users)).all() and (columns["n_links"] >= 0).all()
    rows_ok = all(((r >= 0) & (r < n_rows)).all() for r in (columns["row"], links))
    finite = np.isfinite(columns["weight"]).all() and np.isfinite(columns["time"]).all()
    if not (lengths_ok and users_ok and rows_ok and finite):
        raise PyrerankError("item statistics' contributions are inconsistent (lengths, users, rows or values)")


def _moved(
    columns: dict[str, np.ndarray], links: np.ndarray, here: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """columns() and links with rows mapped by `here` (saved row -> row here, -1: gone): the
    events on gone rows left out, and links to them."""
    n = len(columns["row"])
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
    return columns, links


_EVENT_BUFFERS = ("_user", "_row", "_weight", "_time", "_codes")  # one entry per event
_TYPECODES = {"_user": "i", "_row": "i", "_time": "d", "_codes": "b", "_own_counts": "i", "_own_links": "i"}
_TYPECODES["_settled_tail"] = "i"
_SAVED = (*_EVENT_BUFFERS, "_own_counts", "_own_links", "_settled_tail")  # all but the tails, which they give
_BUFFERS = (*_SAVED, "_tail")
_NO_TAIL = array.array("i", [-1] * TAIL)
_FLOAT32 = array.array("f", [0.0])  # a weight stored here reads back unchanged if a float32 holds it


def among(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """(n,) bool: which of `values` are in `wanted` (rows or user numbers: small integers, so a
    lookup table, O(n), not a sort)."""
    return np.isin(values, wanted, kind="table")


def _view(buffer: array.array) -> np.ndarray:
    """The buffer's entries as a numpy array (no copy), of its type code's dtype."""
    return np.frombuffer(buffer, buffer.typecode)


def _kept(buffer: array.array, keep: np.ndarray) -> array.array:
    """A new buffer of the entries of `buffer` where (len(buffer),) bool `keep` is True."""
    return array.array(buffer.typecode, _view(buffer)[keep].tobytes())


def _link_slots(
    user: np.ndarray, n_links: np.ndarray, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For events' (n,) user numbers and (n,) link counts, per link slot ((Σ n_links,) int64
    each): the event it belongs to, its place among that event's links (0, 1, ...) and the event
    whose row it is if derived (the user's previous n_links events, oldest first), or -m where
    the user has no such event here: their m-th settled event back (1: the latest), -1 where none
    was settled either. `order`: np.argsort(user, kind="stable") where the caller has it."""
    n = len(user)
    if order is None:  # each user's events together, in log order
        order = np.argsort(user, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    earlier = place_in_group(user[order])[rank]  # how many of its user's events come before each
    owner = np.repeat(np.arange(n), n_links)
    slot = place_in_group(owner)
    source = np.repeat(rank - n_links, n_links) + slot  # below the user's first event: settled
    first = np.repeat(rank - earlier, n_links)
    back = np.where(source >= first, order[np.maximum(source, 0)], source - first)
    return owner, slot, back


def place_in_group(items: np.ndarray) -> np.ndarray:
    """For (m,) integers sorted so that equal ones are together: each entry's place among its
    equals, 0, 1, ... in order."""
    starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
    return np.arange(len(items)) - np.repeat(starts, np.diff(np.r_[starts, len(items)]))


def _tails(user: np.ndarray, row: np.ndarray, n_users: int, order: np.ndarray) -> np.ndarray:
    """(n_users * TAIL,) int32: each user number's last TAIL rows of `row`, oldest first, -1
    before their first event; `order` is np.argsort(user, kind="stable")."""
    tails = np.full((n_users, TAIL), -1, np.int32)
    ends = np.cumsum(np.bincount(user, minlength=n_users))  # in order, after each user's last event
    from_end = ends[user[order]] - np.arange(len(order))  # 1 for a user's last event
    last = from_end <= TAIL
    tails[user[order][last], TAIL - from_end[last]] = row[order][last]
    return tails.reshape(-1)
