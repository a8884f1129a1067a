"""What the two trainings of the language model (tune_encoder, train_cross_encoder) share: AdamW
steps with a warm-up, bfloat16 autocast on a GPU, and writing the model beside its report."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np


def autocast(torch: Any, device: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on a CUDA device, nothing elsewhere."""
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=device.startswith("cuda"))


def run_steps(
    torch: Any, model: Any, loss_at: Callable[[int], Any], *, steps: int, lr: float, progress: bool | None, what: str
) -> dict[str, float]:
    """`steps` AdamW steps on `loss_at(step)` (a scalar tensor), the learning rate rising linearly
    over the first 10% of steps; a bar on stderr when `progress` (None: on a terminal). Returns
    the mean loss of the first and of the last 10% of steps, and the seconds taken."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    bar: Iterable[int] = range(steps)
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm.auto import tqdm

        bar = tqdm(bar, desc=what, unit="step", file=sys.stderr)
    started, losses = time.perf_counter(), []
    for step in bar:
        loss = loss_at(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return {
        "first_loss": round(float(np.mean(losses[:warmup])), 4),
        "last_loss": round(float(np.mean(losses[-warmup:])), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def save(transformers: Any, model: Any, tokenizer: Any, out_dir: Any, report_file: str, report: dict) -> Path:
    """The model and tokenizer as a Hugging Face directory, with `report` as JSON beside them."""
    from ..encoders.transformers import quiet_bars

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_bars(transformers, None):
        model.eval().save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / report_file).write_text(json.dumps(report, indent=2))
    return out
