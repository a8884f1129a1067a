"""Dependency-free text vectors by feature hashing of words, word pairs and character trigrams."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from ..interfaces import Encoder

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder(Encoder):
    """Signed feature hashing (the "hashing trick") into `dim` buckets, then L2 normalisation.

    Features: lower-cased words, adjacent word pairs and character trigrams of each word
    (weight 0.5), so related spellings share buckets. Deterministic across processes (CRC32,
    not Python's salted hash). A text with no word characters encodes to all zeros.
    """

    name = "hashing"

    def __init__(self, dim: int = 384) -> None:
        if not isinstance(dim, int) or dim < 8:
            raise ValueError(f"dim must be an int >= 8, got {dim!r}")
        self.dim = dim

    def _features(self, text: str) -> list[tuple[bytes, float]]:
        words = _WORD.findall(text.lower())
        feats = [(b"w:" + w.encode("utf-8", "surrogatepass"), 1.0) for w in words]
        feats += [(f"b:{a} {b}".encode("utf-8", "surrogatepass"), 1.0) for a, b in zip(words, words[1:])]
        for w in words:
            padded = f"#{w}#"
            feats += [
                (("c:" + padded[i : i + 3]).encode("utf-8", "surrogatepass"), 0.5) for i in range(len(padded) - 2)
            ]
        return feats

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = self.check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in self._features(text):
                h = zlib.crc32(feature)
                out[row, h % self.dim] += weight if (h >> 31) & 1 else -weight
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
