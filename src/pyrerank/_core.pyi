"""Type stubs for the C++ kernel (csrc/bindings.cpp). Use pyrerank.ops, which validates first."""

import array
from typing import TypeVar

import numpy as np

T = TypeVar("T", bound=tuple)

MAX_INT8_DIM: int
FEATURE_NAMES: tuple[str, ...]

def isa() -> str: ...
def runnable_isas() -> list[str]: ...
def use_isa(name: str) -> None: ...

# Each op takes its pyrerank.ops function's arguments, by the same names in the same order.
def score(
    matrix: np.ndarray, query: np.ndarray, rows: np.ndarray | None = None, *, num_threads: int = 1
) -> np.ndarray: ...
def topk(
    matrix: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None = None, *, num_threads: int = 1
) -> tuple[np.ndarray, np.ndarray]: ...
def fused_topk(
    matrix: np.ndarray,
    query: np.ndarray,
    features: np.ndarray | tuple | None,  # a tuple: candidate_features' arguments but rows
    weights: np.ndarray | None,
    k: int,
    *,
    sim_weight: float = 1.0,
    interest_weights: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    extra_weights: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    num_threads: int = 1,
    ties: str = "row",
) -> tuple[np.ndarray, np.ndarray]: ...
def fused_topk_keys(
    matrix: np.ndarray,
    row_scale: np.ndarray | None,  # int8 matrix: its rows' 1 / ||row|| (trusted), else None
    keys: np.ndarray | list | tuple,  # int ids, str ids (a list or tuple) or rows
    table: np.ndarray | StringIndex | None,  # their id table, the str index, or None: rows (-1 unknown, -2 repeated)
    n_rows: int,
    seen: np.ndarray | None,
    features: tuple | None,  # candidate_features' arguments but rows, upstream aligned with keys
    k: int,
    query: np.ndarray,  # this and the rest: a pyrerank.interfaces.FusedScoring's fields, in order
    interest_weights: np.ndarray | None,
    sim_weight: float,
    extra: np.ndarray | None,
    extra_weights: np.ndarray | None,
    weights: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, int, int, int]: ...
def mmr(
    matrix: np.ndarray,
    relevance: np.ndarray,
    k: int,
    *,
    lambda_: float = 0.5,
    rows: np.ndarray | None = None,
    ties: str = "row",
) -> tuple[np.ndarray, np.ndarray]: ...
def candidate_rows(
    rows: np.ndarray,
    seen: np.ndarray | None = None,
    upstream: np.ndarray | None = None,
    *,
    table: np.ndarray | None = None,
    n_rows: int = 0,
) -> tuple[np.ndarray, np.ndarray | None, int, int]: ...
def resolve_rows(table: np.ndarray, n_rows: int, keys: np.ndarray) -> tuple[np.ndarray, int]: ...
def mark_duplicates(rows: np.ndarray) -> int: ...
def named_pairs(cls: type[T], ids: list, rows: np.ndarray, scores: np.ndarray) -> list[T]: ...
def crc32c(data: np.ndarray | bytes, crc: int = 0) -> int: ...
def pack_rows(rows: np.ndarray) -> bytes: ...
def unpack_rows(packed: bytes, shape: tuple[int, ...]) -> np.ndarray: ...
def candidate_features(
    stats: np.ndarray,
    rows: np.ndarray,
    now: float,
    half_life: float,
    recency_scale: float,
    upstream: np.ndarray | None,
    co_scores: CoScores | None,
) -> np.ndarray: ...
def read_all(matrix: np.ndarray) -> int: ...
def co_link(
    neighbors: np.ndarray,
    counts: np.ndarray,
    sizes: np.ndarray,
    versions: np.ndarray,
    row: int,
    others: list[int],
    amount: float,
) -> list[tuple[int, int, int, float]]: ...
def co_link_events(
    neighbors: np.ndarray,
    counts: np.ndarray,
    sizes: np.ndarray,
    versions: np.ndarray,
    rows: np.ndarray,
    ends: np.ndarray,
    others: np.ndarray,
    only: np.ndarray | None,
    amount: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def co_unlink_events(
    neighbors: np.ndarray,
    counts: np.ndarray,
    sizes: np.ndarray,
    versions: np.ndarray,
    positions: np.ndarray,
    rows: np.ndarray,
    ends: np.ndarray,
    others: np.ndarray,
    only: np.ndarray | None,
    record_events: np.ndarray,
    record_bumps: np.ndarray,
    record_slots: np.ndarray,
    record_neighbors: np.ndarray,
    record_counts: np.ndarray,
    amount: float,
) -> None: ...
def count_events(
    table: np.ndarray, rows: np.ndarray, weights: np.ndarray, times: np.ndarray, half_life: float
) -> None: ...
def count_event(table: np.ndarray, row: int, weight: float, time: float, half_life: float) -> None: ...
def co_user_scores(
    neighbors: np.ndarray,
    counts: np.ndarray,
    sizes: np.ndarray,
    versions: np.ndarray,
    recent: list[int],
    decay: float,
) -> CoScores: ...
def scaled_rows(matrix: np.ndarray, rows: np.ndarray, scale: np.ndarray) -> np.ndarray: ...
def decay_replay(
    vectors: np.ndarray,
    weights: np.ndarray | array.array,
    timestamps: np.ndarray | array.array,
    per_second: float,
    per_event: float,
) -> tuple[np.ndarray, np.ndarray, float]: ...
def co_version_sum(versions: np.ndarray, rows: array.array) -> int: ...

class CoScores:
    def __init__(self, rows: np.ndarray, values: np.ndarray) -> None: ...
    def __len__(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    def arrays(self) -> tuple[np.ndarray, np.ndarray]: ...

class StringIndex:
    def __init__(self) -> None: ...
    def add(self, keys: list[str], first_row: int) -> None: ...
    def rows(self, items: list[str] | tuple[str, ...]) -> tuple[np.ndarray, int]: ...
    def __len__(self) -> int: ...
