"""Never encode the same text twice: a content-hash cache in memory and, optionally, on disk."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..interfaces import Encoder

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """Hex BLAKE2b digest of the text's UTF-8 bytes (lone surrogates kept, not dropped)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class CachedEncoder(Encoder):
    """Wraps an encoder; `encode` runs the inner encoder only on texts it has not seen.

    With `cache_dir`, vectors are appended to ``<cache_dir>/<name>-<dim>/vectors.f32`` (raw
    float32 rows) and ``keys.txt`` (one key per row) and reloaded on start; a torn tail left by
    a crash is dropped, so the cache is never corrupt, at worst missing its last batch.
    """

    def __init__(self, inner: Encoder, cache_dir: str | os.PathLike | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self._dim: int | None = None
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._dir = None if cache_dir is None else Path(cache_dir)
        self._loaded = False
        self._disk_rows = 0

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            self._dim = self.inner.dim
        return self._dim

    def _files(self) -> tuple[Path, Path]:
        assert self._dir is not None
        folder = self._dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', self.name)}-{self.dim}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "keys.txt", folder / "vectors.f32"

    def _load_disk(self) -> None:
        self._loaded = True
        if self._dir is None:
            return
        keys_path, vec_path = self._files()
        if not keys_path.exists() or not vec_path.exists():
            return
        text = keys_path.read_text()
        if not text.endswith("\n") and "\n" in text:  # a torn last key: cut it off
            text = text[: text.rindex("\n") + 1]
            keys_path.write_text(text)
        elif not text.endswith("\n"):
            text = ""
            keys_path.write_text(text)
        keys = text.split()
        vectors = np.fromfile(vec_path, dtype=np.float32)
        n = min(len(keys), vectors.size // self.dim)
        if n < len(keys):
            log.warning("encoder cache %s lost its last rows; keeping %d", vec_path, n)
            keys_path.write_text("".join(k + "\n" for k in keys[:n]))
        self._memory.update(zip(keys[:n], vectors[: n * self.dim].reshape(n, self.dim)))
        self._disk_rows = n

    def _append_disk(self, keys: list[str], vectors: np.ndarray) -> None:
        if self._dir is None:
            return
        keys_path, vec_path = self._files()
        # Rows first, keys second: a crash in between leaves rows without keys, which the next
        # append overwrites (truncate at the last keyed row); never keys without rows.
        with open(vec_path, "r+b" if vec_path.exists() else "wb") as f:
            f.seek(self._disk_rows * self.dim * 4)
            f.truncate()
            f.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        with open(keys_path, "a") as f:
            f.write("".join(k + "\n" for k in keys))
        self._disk_rows += len(keys)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = self.check_texts(texts)
        keys = [text_key(t) for t in texts]
        with self._lock:
            if not self._loaded:
                self._load_disk()
            missing = {k: t for k, t in zip(keys, texts) if k not in self._memory}
            if missing:
                vectors = np.asarray(self.inner.encode(list(missing.values())), dtype=np.float32)
                self._memory.update(zip(missing, vectors))
                self._append_disk(list(missing), vectors)
            if not keys:
                return np.zeros((0, self.dim), np.float32)
            return np.stack([self._memory[k] for k in keys])

    def __len__(self) -> int:
        return len(self._memory)
