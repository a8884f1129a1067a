"""pr.tune_encoder: fine-tune the transformer itself on what users engaged with one after another,
so that item texts carry who engages with them (items nobody has engaged with yet included).

Contrastive training with in-batch negatives: the text of an item a user engaged with is pulled
towards the text of what the same user engaged with next (within `window` positives), and
pushed from the other pairs' texts in the batch. torch + transformers only (the
``transformers`` extra); the result is a Hugging Face model directory for
``encoder="transformers:DIR"``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..events import Event, ItemId
from .sequences import liked_sequences
from .transformer_training import autocast, run_steps, save

log = logging.getLogger(__name__)

SCALE = 20.0  # cosine similarities × this are the logits over the batch


def engagement_pairs(events: Iterable[Event], known: Mapping[ItemId, str], window: int) -> list[tuple[ItemId, ItemId]]:
    """(earlier, later) item pairs: each positive event of a user with each of that user's next
    `window` positives, in time order (events without a timestamp keep their given order), items
    without a text left out, an item never paired with itself."""
    pairs = []
    for liked in liked_sequences(events, known):
        items = [item for _, item in liked]
        for i, item in enumerate(items):
            pairs += [(item, later) for later in items[i + 1 : i + 1 + window] if later != item]
    return pairs


def tune_encoder(
    texts: Mapping[ItemId, str],
    events: Iterable[Event],
    out_dir: str | os.PathLike,
    *,
    base: str | os.PathLike | None = None,
    steps: int = 400,
    batch_size: int = 32,
    lr: float = 3e-5,
    window: int = 3,
    max_length: int = 48,
    seed: int = 0,
    device: str | None = None,
    progress: bool | None = None,
) -> Path:
    """Fine-tune a sentence encoder on the logged behaviour and write it to `out_dir`; returns
    the directory, to use as ``pr.Reranker(encoder=f"transformers:{out_dir}")`` (re-encode the
    catalog with it: ``add_items(ids, texts)``, then ``fit``).

    texts : {item id: its text}; events : the log (positive events are used)
    base : a local Hugging Face model directory (default: the bundled MiniLM, ``pyrerank[minilm]``)
    steps, batch_size, lr : AdamW steps of `batch_size` (earlier, later) pairs, learning rate
        (linear warm-up over the first 10% of steps, then constant)
    window : each positive is paired with the user's next `window` positives
    max_length : tokens per text
    seed : the pair order and torch's generator: same inputs, same seed, same model (on a CPU)
    device : "cpu", "cuda", ...; None picks the best available. On a GPU, bfloat16 autocast.
    progress : a progress bar on stderr; None: only on a terminal
    """
    from ..encoders.transformers import _require, bundled_minilm, quiet_bars, resolve_device

    torch = _require("torch", "transformers")
    transformers = _require("transformers", "transformers")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("window", window), ("max_length", max_length)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if batch_size < 2:
        raise ValueError("batch_size must be >= 2: the other pairs of a batch are each pair's negatives")
    base = bundled_minilm("tune_encoder without base=") if base is None else base
    pairs = engagement_pairs(events, texts, window)
    if not pairs:
        raise ValueError("events hold no two positives of one user on items with texts: nothing to learn from")
    device = resolve_device(device)
    torch.manual_seed(seed)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    with quiet_bars(transformers, progress):
        model = transformers.AutoModel.from_pretrained(str(base), local_files_only=True)
    model = model.float().to(device)
    order = np.random.default_rng(seed).permutation(len(pairs))

    def embed(batch_texts: list[str]):
        tokens = tokenizer(batch_texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        tokens = {k: v.to(device) for k, v in tokens.items()}
        with autocast(torch, device):
            hidden = model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=1)

    targets = torch.arange(batch_size, device=device)

    def loss_at(step: int):
        picked = [pairs[order[(step * batch_size + i) % len(pairs)]] for i in range(batch_size)]
        anchors, positives = embed([texts[a] for a, _ in picked]), embed([texts[b] for _, b in picked])
        logits = SCALE * anchors @ positives.T
        cross_entropy = torch.nn.functional.cross_entropy
        return (cross_entropy(logits, targets) + cross_entropy(logits.T, targets)) / 2

    losses = run_steps(torch, model, loss_at, steps=steps, lr=lr, progress=progress, what="tuning the encoder")
    report = {
        "base": str(base),
        "pairs": len(pairs),
        "steps": steps,
        "batch_size": batch_size,
        **losses,
        "device": device,
        "seed": seed,
    }
    out = save(transformers, model, tokenizer, out_dir, "pyrerank_tuning.json", report)
    log.info("tuned the encoder on %d pairs: %s", len(pairs), report)
    return out
