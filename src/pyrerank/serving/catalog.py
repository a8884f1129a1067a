"""The catalog: item ids <-> rows of one contiguous vector matrix, plus item metadata."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from ..errors import PyrerankError
from ..events import ItemId
from ..ops import to_int8

DTYPES = ("int8", "float16", "float32")


def check_dtype(dtype: object) -> None:
    """Raises unless `dtype` names one of DTYPES."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(map(repr, DTYPES))}, got {dtype!r}")


def unit_rows(vectors: Any, n: int) -> np.ndarray:
    """`vectors` as (n, dim) float32 unit rows; TypeError/ValueError naming vectors (and the row)
    for non-numeric, misshapen, non-finite or all-zero input."""
    try:
        arr = np.asarray(vectors)
    except ValueError:  # rows of different lengths
        raise ValueError(f"vectors must have shape ({n}, dim): its rows differ in length") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"vectors must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"vectors must have shape ({n}, dim), got {arr.shape}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"vectors must be finite; row {bad} holds NaN or inf")
    norms = np.linalg.norm(arr.astype(np.float64), axis=1, keepdims=True)  # float32 squares can overflow
    if (norms == 0).any():
        raise ValueError(f"vectors must be non-zero; row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is all zeros")
    return (arr / norms).astype(np.float32)


class CandidateKeys(NamedTuple):
    """Candidate ids as the kernel resolves them, with the catalog as it was when they were
    taken: `keys` (n,) int64 are int ids looked up in `table` ((max id + 1,) int64, -1 for ids
    not in the catalog), or a list or tuple of str ids looked up in `table`, the str index,
    both in C++ without the GIL (or the lock: see csrc/string_index.hpp); or (table None) rows
    already resolved, -1 for unknown ids and -2 for repeated ones. Rows at or past `n_rows`
    (items added since) count as unknown, so a request sees the catalog before or after a
    change, never half of it."""

    keys: Any
    table: np.ndarray | _core.StringIndex | None
    n_rows: int

    def resolved(self) -> tuple[np.ndarray, np.ndarray | None, int]:
        """(keys, table, n_rows) with str ids looked up now, for calls that take int ids or rows."""
        if isinstance(self.table, _core.StringIndex):
            return self.table.rows(self.keys)[0], None, self.n_rows
        return self.keys, self.table, self.n_rows


class Catalog:
    """Items as rows of one (capacity, dim) matrix of int8, float16 or float32, grown by doubling.

    A row is the item's unit text vector (text_dim wide), followed, once fit() has learned them,
    by its unit collaborative vector (see pyrerank.learning.collab), the whole row rescaled to
    unit length. An item without one (no engagement in fit's log, or added later) gets the one
    its text predicts through `projection` ((text_dim, dim - text_dim) float32, or None).
    int8 rows are stored by :func:`pyrerank.ops.to_int8` (the direction only; the kernel
    divides by each row's length). Ids are ints or strs (not mixed). Int ids are looked up
    through a direct table when they are dense enough, so mapping 1,000 candidate ids costs a
    few microseconds.

    rewrites : how many upserts have rewritten existing rows in place (counted as each begins).
    A reader that scores rows outside the lock compares it before and after, and scores again
    with writers held off if it changed (see Reranker.rerank).
    """

    def __init__(self, text_dim: int, dtype: str = "float32", dim: int | None = None) -> None:
        check_dtype(dtype)
        if dtype == "int8" and max(text_dim, dim or 0) > _core.MAX_INT8_DIM:
            raise ValueError(
                f"dtype 'int8' holds vectors up to {_core.MAX_INT8_DIM} wide, these are "
                f"{max(text_dim, dim or 0)}: use dtype='float16'"
            )
        self.text_dim, self.dim = text_dim, dim or text_dim
        self.dtype = np.dtype(dtype)
        self._matrix = np.zeros((16, self.dim), self.dtype)
        self._row_scale = np.ones(16, np.float32)  # int8: 1 / ||stored row||; floats: 1
        self.ids: list[ItemId] = []
        self._row_of: dict[ItemId, int] | None = {}  # None: not built yet (an opened save), see row_of
        self.metadata: dict[ItemId, Any] = {}
        self.item_texts: dict[ItemId, str] = {}  # kept only for rankers that read texts
        self.projection: np.ndarray | None = None
        self._id_kind: type | None = None  # int or str, fixed by the first id
        self._int_table = np.full(0, -1, np.int64)  # id -> row, while int ids are dense enough
        self._dense_ints = True
        self._str_index: _core.StringIndex | None = _core.StringIndex()  # str id -> row, in C++
        self._lock = threading.Lock()
        self.rewrites = 0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def row_of(self) -> dict[ItemId, int]:
        """id -> row. An opened save builds it on first use (int ids look rows up in their
        table without it: :meth:`row`)."""
        if self._row_of is None:
            self._row_of = dict(zip(self.ids, range(len(self.ids))))
        return self._row_of

    def row(self, item: Any) -> int | None:
        """The row of `item`, or None if it is not in the catalog."""
        if self._row_of is None and self._dense_ints and isinstance(item, (int, np.integer)) and self._id_kind is int:
            row = int(self._int_table[item]) if 0 <= item < len(self._int_table) else -1
            return row if row >= 0 else None
        return self.row_of.get(item)

    def _own(self) -> None:
        """Copy memory-mapped rows (an opened save) before the first write: the files stay as saved."""
        if not self._matrix.flags.writeable:
            self._matrix, self._row_scale = np.array(self._matrix), np.array(self._row_scale)

    @property
    def matrix(self) -> np.ndarray:
        """(len(self), dim) view of the stored rows (what the kernel reads); rows never move."""
        return self._matrix[: len(self.ids)]

    @property
    def row_scale(self) -> np.ndarray | None:
        """(len(self),) float32 1 / ||row|| of int8 rows (0 for an all-zero row), which the
        kernel would otherwise sum from each row; None for float rows."""
        return self._row_scale[: len(self.ids)] if self.dtype == np.int8 else None

    def vectors(self, rows: Any) -> np.ndarray:
        """float32 unit item vectors as the kernel scores them: (dim,) for one int row, (n, dim)
        for an int array or list of rows."""
        if self.dtype != np.int8:
            return self._matrix[rows].astype(np.float32)
        picked = np.asarray(rows, np.int64)
        out = _core.scaled_rows(self._matrix, picked.reshape(-1), self._row_scale)  # one pass, not three numpy ops
        return out.reshape(picked.shape + (self.dim,))

    def vector_sum(self, rows: np.ndarray) -> np.ndarray:
        """(dim,) float32 sum of the unit item vectors of (n,) int `rows` (as :meth:`vectors`
        gives them), in one matrix-vector product."""
        return self._row_scale[rows] @ self._matrix[rows]

    def text_query(self, text_vector: np.ndarray) -> np.ndarray:
        """(dim,) float32: a (text_dim,) unit text vector placed in the rows' space, with the
        collaborative vector its text predicts (zeros before fit has learned a projection)."""
        return self.with_predicted(text_vector.reshape(1, -1))[0]

    def with_predicted(self, text: np.ndarray) -> np.ndarray:
        """(n, dim) float32 rows for (n, text_dim) unit text vectors: each followed by the unit
        collaborative vector `projection` predicts from it (zeros without one), rescaled to unit
        length as stored rows are."""
        if self.dim == self.text_dim:
            return text.astype(np.float32)
        if self.projection is None:
            return np.hstack([text, np.zeros((len(text), self.dim - self.text_dim), np.float32)]).astype(np.float32)
        return _joined(text, text.astype(np.float32) @ self.projection)

    def _stored(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit float rows (or rows already of the catalog's dtype, as saved) as stored, and their
        (n,) float32 row scales (int8: 1 / ||stored row||, 0 for an all-zero row; floats: 1)."""
        if vectors.dtype != self.dtype:
            vectors = to_int8(vectors) if self.dtype == np.int8 else vectors.astype(self.dtype)
        if self.dtype != np.int8:
            return vectors, np.ones(len(vectors), np.float32)
        norms = np.linalg.norm(vectors.astype(np.float32), axis=1)
        return vectors, np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)

    def _write(self, rows: Any, vectors: np.ndarray) -> None:
        """Store unit float rows, or rows already of the catalog's dtype (as saved), at `rows`."""
        self._own()
        self._matrix[rows], self._row_scale[rows] = self._stored(vectors)

    def text_of(self, rows: Sequence[int]) -> list[str | None]:
        """The texts kept for the items at `rows` (None for an item without one)."""
        ids, texts = self.ids, self.item_texts
        return [texts.get(ids[r]) for r in rows]

    def texts(self) -> np.ndarray:
        """(len(self), text_dim) float32 unit text vectors of every item."""
        with self._lock:
            text = self.vectors(np.arange(len(self.ids)))[:, : self.text_dim]
        return text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-30)

    def with_collaborative(self, factors: np.ndarray, projection: np.ndarray | None = None) -> Catalog:
        """A copy whose rows carry each item's collaborative vector (appended, or replacing the
        previous one), computed aside: factors (len(self), c) float32, unit or zero rows (c = 0
        removes them); `projection` (text_dim, c) float32 fills the zero rows from the items'
        texts, and those of items added later. The copy shares ids, metadata and indexes; this
        catalog is untouched until :meth:`install` takes the copy's rows."""
        with self._lock:
            n, capacity = len(self.ids), len(self._matrix)
        text = self.texts()
        factors = factors.astype(np.float32)
        if projection is not None:
            cold = ~factors.any(axis=1)
            factors[cold] = text[cold] @ projection
        rows = _joined(text, factors)
        out = copy.copy(self)
        out._lock = threading.Lock()
        out.dim, out.projection = rows.shape[1], projection
        out._matrix = np.zeros((max(16, capacity), out.dim), self.dtype)
        out._row_scale = np.ones(len(out._matrix), np.float32)
        out._write(slice(0, n), rows)
        return out

    def without(self, drop: np.ndarray) -> tuple[Catalog, np.ndarray]:
        """A copy without the rows `drop` ((m,) int64), the others renumbered in order, and
        (len(self),) int64 mapping each old row to its new one (-1: dropped)."""
        with self._lock:
            n = len(self.ids)
            keep = np.ones(n, bool)
            keep[drop] = False
            remap = np.full(n, -1, np.int64)
            remap[keep] = np.arange(int(keep.sum()))
            out = Catalog(self.text_dim, str(self.dtype), dim=self.dim)
            out.projection = self.projection
            out._id_kind = self._id_kind
            kept_ids = [self.ids[i] for i in np.flatnonzero(keep).tolist()]
            if kept_ids:
                metadata = [self.metadata.get(i) for i in kept_ids] if self.metadata else None
                out.upsert(kept_ids, self._matrix[:n][keep], metadata)
                out.item_texts = {i: self.item_texts[i] for i in kept_ids if i in self.item_texts}
        return out, remap

    def install(self, other: Catalog) -> None:
        """Take the rows of `other` (from :meth:`with_collaborative`, for the same items), all at
        once."""
        with self._lock:
            self._matrix, self._row_scale, self.dim = other._matrix, other._row_scale, other.dim
            self.projection = other.projection

    def upsert(
        self,
        ids: Sequence[ItemId],
        vectors: np.ndarray,
        metadata: Sequence[Any] | None = None,
        texts: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Add new items or replace existing ones' vectors; returns their (n,) int64 rows.

        vectors : (n, text_dim) unit text vectors, or (n, dim) whole rows (as saved, in the
            catalog's dtype: kept bit for bit); text vectors get the collaborative vector their
            text predicts (see :meth:`with_predicted`)
        texts : n strs, kept for :meth:`text_of` (rankers that read texts), or None"""
        if vectors.shape[1] == self.text_dim < self.dim:
            vectors = self.with_predicted(vectors)
        with self._lock:
            n_before = len(self.ids)
            rows = np.empty(len(ids), np.int64)
            for i, item in enumerate(ids):
                row = self.row_of.get(item)
                if row is None:
                    row = len(self.ids)
                    self.ids.append(item)
                    self.row_of[item] = row
                rows[i] = row
            if len(self.ids) > len(self._matrix):
                grown = np.zeros((max(len(self.ids), 2 * len(self._matrix)), self.dim), self.dtype)
                grown[: len(self._matrix)] = self._matrix
                self._matrix = grown
                self._row_scale = np.concatenate(
                    [self._row_scale, np.ones(len(grown) - len(self._row_scale), np.float32)]
                )
            if n_before and int(rows.min()) < n_before:  # rows a rerank may be reading: see `rewrites`
                self.rewrites += 1
            self._write(rows, vectors)
            if metadata is not None:
                self.metadata.update(zip(ids, metadata))
            if texts is not None:
                self.item_texts.update(zip(ids, texts))
            self._index_ints(ids, rows)
            self._index_strs(n_before)
            return rows

    def _index_strs(self, n_before: int) -> None:
        if self._id_kind is not str or self._str_index is None:
            return
        try:
            self._str_index.add(self.ids[n_before:], n_before)  # type: ignore[arg-type]  # str ids here
        except TypeError:  # an id with lone surrogates: no UTF-8, so dict lookups from now on
            self._str_index = None

    def _index_ints(self, ids: Sequence[ItemId], rows: np.ndarray) -> None:
        if self._id_kind is not int or not self._dense_ints:
            return
        keys = np.asarray(ids, dtype=np.int64)
        top = int(keys.max()) if len(keys) else -1
        if top >= len(self._int_table):
            if top > 4 * len(self.ids) + 1_000_000:  # too sparse for a table: the dict from now on
                self._int_table = np.full(0, -1, np.int64)
                self._dense_ints = False
                return
            table = np.full(max(top + 1, 2 * len(self._int_table)), -1, np.int64)
            table[: len(self._int_table)] = self._int_table
            self._int_table = table
        self._int_table[keys] = rows

    @staticmethod
    def check_id_types(ids: Sequence[Any]) -> None:
        """Raises unless every id is an int in [0, 2**63) or a str."""
        for item in ids:
            if isinstance(item, str):
                continue
            if not isinstance(item, (int, np.integer)) or isinstance(item, bool):
                raise TypeError(f"ids: item ids must be int or str, got {type(item).__name__} {item!r:.40}")
            if not 0 <= item < 2**63:
                raise ValueError(f"ids: int item ids must lie in [0, 2**63), got {item}")

    def check_ids(self, ids: Sequence[Any]) -> None:
        """Raises unless every id is valid (check_id_types) and of the catalog's one kind."""
        self.check_id_types(ids)
        for item in ids:
            kind = str if isinstance(item, str) else int
            if self._id_kind is None:
                self._id_kind = kind
            elif kind is not self._id_kind:
                raise TypeError(f"ids must all be {self._id_kind.__name__} like the catalog's, got {item!r:.40}")

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON): ``vectors`` (len(self), dim) as stored, their ``row_scale`` and, for
        int ids, ``ids`` (int64); dtype, text_dim, str ids, metadata."""
        with self._lock:
            n = len(self.ids)
            arrays = {"vectors": self.matrix.copy(), "row_scale": self._row_scale[:n].copy()}
            if self.projection is not None:
                arrays["projection"] = self.projection.copy()
            meta: dict[str, Any] = {
                "dtype": str(self.dtype),
                "text_dim": self.text_dim,
                "metadata": [[item, value] for item, value in self.metadata.items() if value is not None],
                "texts": [[item, text] for item, text in self.item_texts.items()],
            }
            if self._id_kind is int:
                arrays["ids"] = np.asarray(self.ids, np.int64)
            else:
                meta["ids"] = list(self.ids)
            return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Catalog:
        """The catalog :meth:`to_arrays` described, rows kept bit for bit (no re-normalising) and
        not copied: memory-mapped arrays stay mapped until a write (see :meth:`_own`)."""
        vectors, row_scale = arrays["vectors"], arrays["row_scale"]
        ids: list[Any] = arrays["ids"].tolist() if "ids" in arrays else meta["ids"]
        n = len(ids)
        if vectors.ndim != 2 or vectors.shape[0] != n or vectors.dtype != np.dtype(meta["dtype"]):
            raise PyrerankError(
                f"the catalog's vectors have dtype {vectors.dtype} and shape {vectors.shape}, "
                f"expected {meta['dtype']} and ({n}, dim)"
            )
        if (
            row_scale.shape != (n,)
            or row_scale.dtype != np.float32
            or not (np.isfinite(row_scale) & (row_scale >= 0)).all()
        ):
            raise PyrerankError("the catalog's row scales are not n finite float32 values >= 0")
        if vectors.dtype != np.int8 and not np.isfinite(vectors).all():
            raise PyrerankError("the catalog's vectors hold NaN or inf")
        catalog = cls(meta["text_dim"], meta["dtype"], dim=vectors.shape[1])
        if "ids" in arrays:
            catalog._check_int_ids(arrays["ids"])
        else:
            catalog.check_id_types(ids)
        catalog._id_kind = int if "ids" in arrays else (str if ids else None)
        catalog._matrix, catalog._row_scale, catalog.ids = vectors, row_scale, ids
        if catalog._id_kind is int and catalog._table_ints(arrays["ids"]):
            catalog._row_of = None  # built on first use
        else:
            catalog._row_of = {}
            for row, item in enumerate(ids):
                if catalog._row_of.setdefault(item, row) != row:
                    raise PyrerankError(f"the catalog's ids repeat {item!r}")
            if catalog._id_kind is str:
                catalog._index_strs(0)
        catalog.metadata = dict((item, value) for item, value in meta["metadata"])
        catalog.item_texts = {item: text for item, text in meta.get("texts", []) if isinstance(text, str)}
        projection = arrays.get("projection")
        if projection is not None and (
            projection.shape != (catalog.text_dim, catalog.dim - catalog.text_dim)
            or projection.dtype != np.float32
            or not np.isfinite(projection).all()
        ):
            raise PyrerankError(f"the catalog's projection has shape {projection.shape}, or is not finite float32")
        catalog.projection = projection
        return catalog

    def _check_int_ids(self, ids: np.ndarray) -> None:
        if ids.ndim != 1 or (len(ids) and int(ids.min()) < 0):
            raise PyrerankError("the catalog's int ids must be one row of values >= 0")

    def _table_ints(self, ids: np.ndarray) -> bool:
        """Index int `ids` (rows 0..n-1) through the direct table if dense enough; False (and a
        dict-only index) if not. PyrerankError if an id repeats."""
        top = int(ids.max()) if len(ids) else -1
        if top > 4 * len(ids) + 1_000_000:
            self._dense_ints, self._int_table = False, np.full(0, -1, np.int64)
            return False
        table = np.full(max(top + 1, 16), -1, np.int64)
        table[ids] = np.arange(len(ids))
        if len(ids) and not (table[ids] == np.arange(len(ids))).all():
            raise PyrerankError("the catalog's ids repeat")
        self._int_table = table
        return True

    def _by_int_table(self, items: Any) -> bool:
        """Whether `items` resolve through the id table: a numpy int array, dense int ids."""
        return (
            self._dense_ints and len(self._int_table) > 0 and isinstance(items, np.ndarray) and items.dtype.kind in "iu"
        )

    def _by_str_index(self, items: Any) -> bool:
        """Whether `items` resolve through the str index: a list or tuple, str ids here."""
        return self._id_kind is str and self._str_index is not None and type(items) in (list, tuple)

    def candidate_keys(self, items: Any) -> CandidateKeys:
        """`items` for the kernel: dense int ids in a numpy array with the id table, and a list
        or tuple of str ids with the str index, to be resolved in C++ without the GIL or the
        lock (adding items grows the table or index or writes entries past n_rows); others
        resolved to rows now (the dict changes in place as items are added, so the caller holds
        the catalog lock). TypeError for unhashable ids."""
        if self._by_int_table(items):
            return CandidateKeys(np.ascontiguousarray(items, dtype=np.int64), self._int_table, len(self.ids))
        if self._by_str_index(items):
            return CandidateKeys(items, self._str_index, len(self.ids))
        return CandidateKeys(self.rows_for(items)[0], None, len(self.ids))

    def candidate_rows(
        self, keys: CandidateKeys, seen: np.ndarray | None, upstream: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None, int, int]:
        """The rows of the candidates in order, without unknown and repeated ids and without the
        rows in `seen` ((m,) int64, or None), with `upstream` ((n,) float32 or None) beside them;
        and how many ids were unknown and how many repeated. One C++ call without the GIL."""
        resolved, table, n_rows = keys.resolved()
        return _core.candidate_rows(resolved, seen, upstream, table=table, n_rows=n_rows)

    def rows_for(self, items: Any) -> tuple[np.ndarray, int]:
        """(n,) int64 catalog row of each of `items` — -1 where the id is unknown, -2 where an
        earlier entry of `items` already named the same item — and how many are negative."""
        if self._by_int_table(items):
            return _core.resolve_rows(self._int_table, len(self.ids), np.ascontiguousarray(items, dtype=np.int64))
        if self._by_str_index(items):
            return self._str_index.rows(items)  # type: ignore[union-attr]  # not None there
        # A C-level loop of dict lookups; numpy ints and strs hash and compare like Python's.
        rows = np.fromiter(map(self.row_of.get, items, itertools.repeat(-1)), np.int64, count=len(items))
        repeated = _core.mark_duplicates(rows)
        return rows, repeated + int((rows == -1).sum())


def _joined(text: np.ndarray, collaborative: np.ndarray) -> np.ndarray:
    """(n, text_dim + c) float32 rows: unit text beside unit collaborative vectors (zero rows
    stay zero), each row rescaled to unit length."""
    norms = np.linalg.norm(collaborative, axis=1, keepdims=True)
    collaborative = np.divide(collaborative, norms, out=np.zeros_like(collaborative), where=norms > 0)
    rows = np.hstack([text, collaborative]).astype(np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-30)
