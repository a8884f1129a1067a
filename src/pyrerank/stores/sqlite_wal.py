"""Checks an SQLite write-ahead log for damage SQLite's own recovery would hide: it stops at the
first frame whose checksum or salt is wrong and silently ignores every frame after it, committed
transactions included. Reads the log file only (never the "-shm" index, whose locks a second
descriptor would release)."""

from __future__ import annotations

import struct

import numpy as np


def _wal_checksum(data: bytes, big_endian: bool, s0: int = 0, s1: int = 0) -> tuple[int, int]:
    """SQLite's write-ahead-log checksum of `data` (a multiple of 8 bytes), continuing (s0, s1)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _frame_sums(frames: np.ndarray, big_endian: bool) -> tuple[np.ndarray, list[list[int]]]:
    """For frames (f, 24 + page) uint8 of a write-ahead log: what each frame adds to the running
    checksum, (f, 2) uint64, and the 2x2 matrix that carries the previous checksum through one
    frame. The checksum is the linear recurrence (s0, s1) <- M (s0, s1) + (a, a + b) mod 2**32,
    M = [[1, 1], [1, 2]], over the (a, b) word pairs of the header's first 8 bytes and the page."""
    data = np.ascontiguousarray(np.concatenate([frames[:, :8], frames[:, 24:]], axis=1))
    words = data.view(">u4" if big_endian else "<u4").astype(np.uint64)
    a, b = words[:, 0::2], words[:, 1::2]
    inputs = np.stack([a, (a + b) & 0xFFFFFFFF], axis=2)  # (f, n, 2)
    n = inputs.shape[1]
    powers = [[[1, 0], [0, 1]]]  # M**j mod 2**32, j = 0 .. n
    for _ in range(n):
        (p, q), (r, t) = powers[-1]
        powers.append(
            [[(p + r) & 0xFFFFFFFF, (q + t) & 0xFFFFFFFF], [(p + 2 * r) & 0xFFFFFFFF, (q + 2 * t) & 0xFFFFFFFF]]
        )
    carry = np.array(powers[n - 1 :: -1][:n], np.uint64)  # M**(n-1-k) for the k-th pair
    high, low = carry >> np.uint64(16), carry & np.uint64(0xFFFF)  # 16-bit limbs: no uint64 overflow
    mask = np.uint64(0xFFFFFFFF)
    summed_high = np.einsum("kij,fkj->fi", high, inputs) & mask
    summed_low = np.einsum("kij,fkj->fi", low, inputs)
    return ((summed_high << np.uint64(16)) + summed_low) & mask, powers[n]


def wal_commits_lost(wal: bytes) -> bool:
    """True if damage would make SQLite drop committed transactions of the write-ahead log
    `wal`: SQLite's recovery stops at the first frame whose checksum or salt is wrong and ignores
    every frame after it, so a commit frame of the log's generation behind such a frame is lost.
    A damaged last commit looks like a write torn by a crash (which SQLite rightly drops), and is
    not detected."""
    if len(wal) < 32:
        return False
    magic, _, page_size, _, salt1, salt2, c0, c1 = struct.unpack(">8I", wal[:32])
    big = magic == 0x377F0683
    if magic not in (0x377F0682, 0x377F0683) or _wal_checksum(wal[:24], big) != (c0, c1):
        return len(wal) >= 32 + 24 + 512  # a damaged header: SQLite ignores every frame behind it
    size = 24 + page_size
    count = (len(wal) - 32) // size
    if count == 0:
        return False
    frames = np.frombuffer(wal, np.uint8, count * size, 32).reshape(count, size)
    heads = frames[:, :24].copy().view(">u4").reshape(count, 6)  # page, db size, salts, checksum
    added, (m0, m1) = _frame_sums(frames, big)
    s0, s1, broken = c0, c1, False
    for f in range(count):
        if (int(heads[f, 2]), int(heads[f, 3])) != (salt1, salt2):
            broken = True  # a damaged salt, or an older generation of the log from here on
            continue
        if not broken:
            s0, s1 = (
                (m0[0] * s0 + m0[1] * s1 + int(added[f, 0])) & 0xFFFFFFFF,
                (m1[0] * s0 + m1[1] * s1 + int(added[f, 1])) & 0xFFFFFFFF,
            )
            broken = (s0, s1) != (int(heads[f, 4]), int(heads[f, 5]))
        if heads[f, 1] and broken:
            return True  # a committed transaction behind a damaged frame
    return False
