"""pr.train_cross_encoder: fine-tune a BERT-style cross-encoder as a click model on the log.

Each logged positive becomes one group: the texts of the user's previous `history` liked items
(newest first) paired with the text of the item they engaged with next, beside the same history
paired with `negatives` items drawn at random. The model reads each (history, candidate) pair
whole, so it sees word-level interactions that a dot product of two vectors cannot; training is
the choice loss (softmax over each group), so its scores are log-odds of being the one chosen.
The result is a Hugging Face sequence-classification directory (one output) that
:class:`pyrerank.rankers.cross_encoder.CrossEncoderRanker` serves, usually as the second stage
of a :class:`pyrerank.Cascade`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .. import _validate as check
from ..events import Event, ItemId
from .choice import choice_metrics
from .sequences import liked_sequences
from .transformer_training import autocast, run_steps, save

log = logging.getLogger(__name__)

SETTINGS_FILE = "pyrerank_cross_encoder.json"  # the training settings a server must match
HELD_OUT = 0.1  # the latest share of groups, kept for ROC-AUC and log-loss
MAX_HELD_OUT = 1_000  # groups: enough for a stable AUC, cheap on a CPU


def history_text(texts: Iterable[str]) -> str:
    """The user's side of a pair: their liked items' texts, newest first, so that truncation
    drops the oldest."""
    return " | ".join(texts)


class Group(NamedTuple):
    """One logged choice: the user's history (item ids, oldest first), then the chosen item."""

    timestamp: float
    history: tuple[ItemId, ...]
    chosen: ItemId


def choice_groups(events: Iterable[Event], known: Mapping[ItemId, str], history: int) -> list[Group]:
    """Every positive event of a user that has at least one earlier positive, with that user's
    previous `history` positives, in time order (events without a timestamp keep their given
    order); items without a text are left out."""
    groups = []
    for liked in liked_sequences(events, known):
        for j in range(1, len(liked)):
            earlier = tuple(item for _, item in liked[max(0, j - history) : j])
            groups.append(Group(liked[j][0], earlier, liked[j][1]))
    groups.sort(key=lambda g: g.timestamp)
    return groups


def train_cross_encoder(
    texts: Mapping[ItemId, str],
    events: Iterable[Event],
    out_dir: str | os.PathLike,
    *,
    base: str | os.PathLike | None = None,
    steps: int = 300,
    batch_size: int = 16,
    negatives: int = 3,
    history: int = 3,
    lr: float = 3e-5,
    max_length: int = 96,
    seed: int = 0,
    device: str | None = None,
    progress: bool | None = None,
) -> Path:
    """Fine-tune a cross-encoder click model on the logged behaviour and write it to `out_dir`;
    returns the directory, for ``CrossEncoderRanker(out_dir)``. Its held-out ROC-AUC and
    log-loss (the latest 10% of groups, at most 1,000) are in ``out_dir/pyrerank_cross_encoder.json``.

    texts : {item id: its text}; events : the log (positive events are used)
    base : a local Hugging Face model directory (default: the bundled MiniLM, ``pyrerank[minilm]``)
    steps, batch_size, lr : AdamW steps of `batch_size` groups, learning rate (linear warm-up
        over the first 10% of steps, then constant)
    negatives : random items beside each chosen one; history : liked items on the user's side
    max_length : tokens per (history, candidate) pair
    seed : the group order, the negatives and torch's generator (same inputs, same model on a CPU)
    device : "cpu", "cuda", ...; None picks the best available. On a GPU, bfloat16 autocast.
    progress : a progress bar on stderr; None: only on a terminal
    """
    from ..encoders.transformers import _require, bundled_minilm, quiet_bars, resolve_device

    torch = _require("torch", "transformers")
    transformers = _require("transformers", "transformers")
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("negatives", negatives),
        ("history", history),
        ("max_length", max_length),
    ):
        check.integer(value, name, 1)
    base = bundled_minilm("train_cross_encoder without base=") if base is None else base
    groups = choice_groups(events, texts, history)
    if len(groups) < 2:
        raise ValueError("events hold fewer than two positives that follow another of the same user: nothing to learn")
    device = resolve_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    verbosity = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()  # not the "classifier newly initialised" notice: it is meant to be
    try:
        with quiet_bars(transformers, progress):
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                str(base), num_labels=1, local_files_only=True
            )
    finally:
        transformers.utils.logging.set_verbosity(verbosity)
    model = model.float().to(device)
    item_ids = list(texts)
    n_held = min(MAX_HELD_OUT, max(1, int(round(HELD_OUT * len(groups)))))
    fitting, held_out = groups[:-n_held], groups[-n_held:]
    if not fitting:
        fitting = held_out

    def candidates(group: Group) -> list[ItemId]:
        drawn = [item_ids[i] for i in rng.integers(0, len(item_ids), negatives)]
        return [group.chosen, *drawn]

    def logits(picked: list[Group], lists: list[list[ItemId]]) -> Any:
        users = [history_text(texts[i] for i in reversed(g.history)) for g in picked for _ in range(1 + negatives)]
        items = [texts[i] for group_items in lists for i in group_items]
        tokens = tokenizer(users, items, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        tokens = {k: v.to(device) for k, v in tokens.items()}
        with autocast(torch, device):
            out = model(**tokens).logits
        return out.float().reshape(len(picked), 1 + negatives)

    order = rng.permutation(len(fitting))
    targets = torch.zeros(batch_size, dtype=torch.long, device=device)

    def loss_at(step: int):
        picked = [fitting[order[(step * batch_size + i) % len(fitting)]] for i in range(batch_size)]
        return torch.nn.functional.cross_entropy(logits(picked, [candidates(g) for g in picked]), targets)

    losses = run_steps(torch, model, loss_at, steps=steps, lr=lr, progress=progress, what="training the cross-encoder")
    model.eval()
    held_logits = []
    with torch.inference_mode():
        for start in range(0, len(held_out), batch_size):
            picked = held_out[start : start + batch_size]
            held_logits.append(logits(picked, [candidates(g) for g in picked]).cpu().numpy())
    labels = np.zeros((len(held_out), 1 + negatives), np.float32)
    labels[:, 0] = 1.0
    validation = choice_metrics(np.concatenate(held_logits), labels)
    report = {
        "base": str(base),
        "groups": len(groups),
        "steps": steps,
        "batch_size": batch_size,
        "negatives": negatives,
        "history": history,
        "max_length": max_length,
        **losses,
        "validation": validation,
        "device": device,
        "seed": seed,
    }
    out = save(transformers, model, tokenizer, out_dir, SETTINGS_FILE, report)
    log.info("trained the cross-encoder on %d groups: %s", len(groups), report)
    return out
