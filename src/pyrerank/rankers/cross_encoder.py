"""The `cross-encoder` ranker: a fine-tuned BERT-style click model reading (the user's recent
liked items' texts, the candidate's text) whole. Costly (a transformer forward per candidate):
serve it as the second stage of a :class:`~pyrerank.rankers.cascade.Cascade` over the first
stage's top few."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as check
from ..interfaces import RankRequest
from ..learning.cross import SETTINGS_FILE, history_text
from ._training import ChoiceModel


class CrossEncoderRanker(ChoiceModel):
    """Scores each candidate with a cross-encoder trained by :func:`pyrerank.train_cross_encoder`
    (or any Hugging Face sequence-classification model with one output): the log-odds of the
    user choosing it. The user's side is the texts of their `history` latest liked items
    (``RankRequest.history``), newest first.

    model : the model directory; history, max_length : default to the values it was trained with
    batch_size : pairs per forward pass; device : "cpu", "cuda", ... (None: the best available)
    validation : the held-out ROC-AUC and log-loss its training reported ({} if none)
    """

    name = "cross-encoder"
    needs_texts = True

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        history: int | None = None,
        max_length: int | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        from ..encoders.transformers import _require, quiet_bars, resolve_device

        self.torch = _require("torch", "transformers")
        transformers = _require("transformers", "transformers")
        folder = Path(model)
        if not folder.is_dir():
            raise ValueError(f"model must be a local model directory, {str(model)!r} is not one")
        settings_file = folder / SETTINGS_FILE
        settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
        self.history = check.integer(settings.get("history", 3) if history is None else history, "history", 1)
        self.max_length = check.integer(
            settings.get("max_length", 96) if max_length is None else max_length, "max_length", 1
        )
        self.batch_size = check.integer(batch_size, "batch_size", 1)
        self.validation = dict(settings.get("validation", {}))
        self.model_path, self.device = str(folder), resolve_device(device)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        with quiet_bars(transformers, None):
            self.model = transformers.AutoModelForSequenceClassification.from_pretrained(
                self.model_path, local_files_only=True
            )
        if self.model.config.num_labels != 1:
            outputs = self.model.config.num_labels
            raise ValueError(f"model must have one output (a click log-odds), {str(model)!r} has {outputs}")
        self.model = self.model.to(self.device).eval()
        self._lock = threading.Lock()  # HF tokenizers are not safe to call from two threads at once

    def score(self, request: RankRequest) -> np.ndarray:
        """(n,) float32 log-odds; zeros for a user with no liked items yet (the order is then the
        first stage's, or the recall stage's); ValueError unless every candidate has a text."""
        if request.history is None or len(request.history) == 0:
            return np.zeros(len(request.rows), np.float32)
        if request.texts is None:
            raise ValueError("the cross-encoder needs item texts: add the items with texts (add_items(ids, texts))")
        items = request.texts(request.rows.tolist())
        if any(text is None for text in items):
            raise ValueError(
                "the cross-encoder needs every candidate's text: some candidates were added without "
                "texts (add_items(ids, texts, vectors=...) keeps both)"
            )
        history = request.history[-self.history :][::-1].tolist()
        user = history_text(text for text in request.texts(history) if text is not None)
        out = np.empty(len(items), np.float32)
        torch = self.torch
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            with self._lock:
                tokens = self.tokenizer(
                    [user] * len(chunk),
                    chunk,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
            with torch.inference_mode():
                logits = self.model(**{k: v.to(self.device) for k, v in tokens.items()}).logits
            out[start : start + len(chunk)] = logits[:, 0].float().cpu().numpy()
        return out

    def __deepcopy__(self, memo: dict[int, Any]) -> CrossEncoderRanker:
        """Itself: nothing in it changes after loading (Reranker.fit copies its ranker)."""
        return self
