"""What the learned rankers (`bilinear`, `mlp`) share: minibatches of logged groups, Adam, the
choice loss and the validation figures (ROC-AUC, log-loss) fit reports for them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import numpy as np

from ..interfaces import Ranker, RankRequest, TrainingExamples
from ..learning.choice import choice_metrics

log = logging.getLogger(__name__)

HELD_OUT = 0.1  # the latest share of fit's examples kept for validation


def check_options(epochs: object, lr: object, l2: object) -> None:
    """Raises naming the option unless epochs is an int >= 0, lr > 0 and l2 >= 0."""
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    if not isinstance(l2, (int, float)) or not l2 >= 0:
        raise ValueError(f"l2 must be a number >= 0, got {l2!r}")


class ChoiceModel(Ranker):
    """What the learned rankers share: fit's held-out figures (`validation`) and each
    candidate's chance of being the one chosen."""

    validation: dict[str, float]

    def probability(self, request: RankRequest) -> np.ndarray:
        """(n,) float32 chance of each candidate being the one the user picks among them, as
        fit's choice model estimates it (they sum to 1)."""
        scores = self.score(request)
        e = np.exp(scores.astype(np.float64) - scores.max())
        return (e / e.sum()).astype(np.float32)


def vectors_of(examples: TrainingExamples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The examples' (users, rows, item_vectors), or ValueError for examples without them."""
    if examples.users is None or examples.rows is None or examples.item_vectors is None:
        raise ValueError("these examples carry no user and item vectors: Reranker.fit provides them")
    return examples.users, examples.rows, examples.item_vectors


class Batch:
    """b logged groups of g = 1 + m candidates (the positive first).

    x : (b, g, c) float32 columns; users : (b, dim) float32; items : (b, g, dim) float32 unit
    item vectors; labels : (b, g) float32, 1 for each group's positive
    """

    def __init__(self, examples: TrainingExamples, index: np.ndarray) -> None:
        users, rows, item_vectors = vectors_of(examples)
        self.x = np.concatenate([examples.positives[index, None, :], examples.negatives[index]], axis=1)
        self.users = users[index]
        self.items = item_vectors[rows[index]]
        self.labels = np.zeros(self.x.shape[:2], np.float32)
        self.labels[:, 0] = 1.0


def batches(examples: TrainingExamples, size: int, epochs: int, seed: int) -> Iterator[Batch]:
    """`epochs` passes over `examples` in shuffled minibatches of `size` groups."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(examples))
        for start in range(0, len(order), size):
            yield Batch(examples, order[start : start + size])


class Adam:
    """Adam over a dict of float32 arrays, updated in place."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, l2: float = 0.0) -> None:
        self.params, self.lr, self.l2, self.t = params, lr, l2, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        correction = np.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t)
        for k, g in grads.items():
            g = g + self.l2 * self.params[k]
            self.m[k] += 0.1 * (g - self.m[k])
            self.v[k] += 0.001 * (g * g - self.v[k])
            self.params[k] -= (self.lr * correction * self.m[k] / (np.sqrt(self.v[k]) + 1e-8)).astype(np.float32)


def choice_gradient(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """d(mean softmax cross-entropy over each group)/d(logits): which candidate was chosen.
    (A loss over each group, not over single clicks: what ranks one user's candidates, not
    what tells one user's logits from another's.)"""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return ((e / e.sum(axis=1, keepdims=True) - labels) / len(labels)).astype(np.float32)


def train(
    name: str,
    examples: TrainingExamples,
    params: dict[str, np.ndarray],
    forward: Callable[[Batch], tuple[np.ndarray, Callable[[np.ndarray], dict[str, np.ndarray]]]],
    *,
    epochs: int,
    lr: float,
    l2: float,
    seed: int,
    batch_size: int = 256,
) -> dict[str, float]:
    """Fit `params` by Adam on the choice loss over all but the latest 10% of the examples, and
    return the choice metrics on those held out. `forward(batch)` gives (b, g) logits and the
    function from d(loss)/d(logits) to each parameter's gradient."""
    fitting, held_out = examples.split(HELD_OUT)
    started = time.perf_counter()
    optimizer = Adam(params, lr, l2)
    for batch in batches(fitting, batch_size, epochs, seed):
        logits, backward = forward(batch)
        optimizer.step(backward(choice_gradient(logits, batch.labels)))
    held = Batch(held_out, np.arange(len(held_out)))
    metrics = choice_metrics(forward(held)[0], held.labels)
    log.info(
        "%s trained on %d groups in %.1f s; held-out %d: ROC-AUC %.3f, log-loss %.3f",
        name,
        len(fitting),
        time.perf_counter() - started,
        len(held_out),
        metrics["auc"],
        metrics["log_loss"],
    )
    return metrics
