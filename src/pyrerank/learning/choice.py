"""How well a click model tells the chosen item from the others of its group: what fit reports
for the learned rankers and train_cross_encoder for the cross-encoder."""

from __future__ import annotations

import numpy as np


def choice_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """For (b, g) logged groups, one chosen candidate each: ROC-AUC within each group (the share
    of the others scored below the chosen one, ties half), averaged, and the log-loss of the
    chosen one's softmax probability ("groups": b)."""
    chosen = logits[labels > 0.5][:, None]
    others = logits[labels < 0.5].reshape(len(logits), -1)
    auc = ((others < chosen).sum(axis=1) + 0.5 * (others == chosen).sum(axis=1)) / others.shape[1]
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_loss = np.log(np.exp(z).sum(axis=1)) - z[labels > 0.5]
    return {"auc": round(float(auc.mean()), 4), "log_loss": round(float(log_loss.mean()), 4), "groups": len(logits)}
