"""pr.tune_encoder: fine-tune the transformer itself on what users engaged with one after another,
so that item texts carry who engages with them (items nobody has engaged with yet included).

Contrastive training with in-batch negatives: the text of an item a user engaged with is pulled
towards the text of what the same user engaged with next (within `window` positives), and
pushed from the other pairs' texts in the batch. torch + transformers only (the
``transformers`` extra); the result is a Hugging Face model directory for
``encoder="transformers:DIR"``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..events import Event, ItemId
from .sequences import liked_sequences

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
    model = model.float().to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    order = np.random.default_rng(seed).permutation(len(pairs))

    def embed(batch_texts: list[str]):
        tokens = tokenizer(batch_texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        tokens = {k: v.to(device) for k, v in tokens.items()}
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            hidden = model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=1)

    bar = range(steps)
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm.auto import tqdm

        bar = tqdm(bar, desc="tuning the encoder", unit="step", file=sys.stderr)
    started, losses = time.perf_counter(), []
    targets = torch.arange(batch_size, device=device)
    for step in bar:
        picked = [pairs[order[(step * batch_size + i) % len(pairs)]] for i in range(batch_size)]
        anchors, positives = embed([texts[a] for a, _ in picked]), embed([texts[b] for _, b in picked])
        logits = SCALE * anchors @ positives.T
        loss = (
            torch.nn.functional.cross_entropy(logits, targets) + torch.nn.functional.cross_entropy(logits.T, targets)
        ) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_bars(transformers, progress):
        model.eval().save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    report = {
        "base": str(base),
        "pairs": len(pairs),
        "steps": steps,
        "batch_size": batch_size,
        "first_loss": round(float(np.mean(losses[: max(1, steps // 10)])), 4),
        "last_loss": round(float(np.mean(losses[-max(1, steps // 10) :])), 4),
        "seconds": round(time.perf_counter() - started, 1),
        "device": device,
        "seed": seed,
    }
    (out / "pyrerank_tuning.json").write_text(json.dumps(report, indent=2))
    log.info("tuned the encoder on %d pairs: %s", len(pairs), report)
    return out
