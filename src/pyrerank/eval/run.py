"""`pyrerank eval`: run a protocol for the baselines and pyrerank in one pass per variant."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from ..events import Event
from . import baselines, metrics, movielens, protocol

log = logging.getLogger(__name__)

BASELINES = ("random", "popularity", "co-engagement", "content")
DEFAULT_METHODS = (*BASELINES, "pyrerank")
PYRERANK = ("pyrerank", "pyrerank+text", "pyrerank+tuned", "pyrerank+cross")
CROSS_TOP = 10  # pyrerank+cross: the cross-encoder re-scores the default ranker's best 10
CROSS_MAX_LENGTH = 64  # tokens per (history, candidate) pair: three titles and the candidate's


class Experiment:
    """Everything shared by the variants: data, split, train statistics, item vectors."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        encoder: str = "minilm",
        cache_dir: str | Path | None = None,
        seed: int = 0,
        progress: bool = True,
        protocol_name: str = "replay-100",
        tune_steps: int = 150,
        cross_steps: int = 200,
    ) -> None:
        """protocol_name : one of protocol.PROTOCOLS; cold-items holds its cold items' events out
        of everything fit and the baselines count. tune_steps, cross_steps : the training steps
        of the encoder tuning behind "pyrerank+tuned", of the cross-encoder behind "pyrerank+cross"."""
        import pyrerank as pr

        if protocol_name not in protocol.PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(protocol.PROTOCOLS)}, got {protocol_name!r}")
        self.data = movielens.load(data_dir)
        self.split = protocol.split(self.data)
        self.seed, self.progress, self.protocol_name = seed, progress, protocol_name
        self.cache_dir, self.tune_steps, self.cross_steps = cache_dir, tune_steps, cross_steps
        self.n_steps = 0  # steps of the last run
        d = self.data
        self.rows = np.searchsorted(d.item_ids, d.item)  # rating -> item row
        held_out = np.zeros(len(d.item), bool)
        if protocol_name == "cold-items":
            held_out = np.isin(d.item, protocol.cold_items(d))
        self.train = ~self.split.is_test & ~held_out
        train = self.train
        self.train_counts = np.bincount(self.rows[train], minlength=len(d.item_ids)).astype(np.float64)
        liked = np.flatnonzero(train & (d.rating >= protocol.POSITIVE))  # sorted by user, then time
        cuts = np.flatnonzero(np.diff(d.user[liked])) + 1
        self.liked_sequences = np.split(self.rows[liked], cuts)
        started = time.perf_counter()
        encoder_ = pr.Reranker(encoder=encoder, cache_dir=None if cache_dir is None else str(cache_dir)).encoder
        if hasattr(encoder_.inner, "progress"):
            encoder_.inner.progress = progress
        self.encoder = encoder_  # observe_text encodes with the items' encoder
        self.encoder_name = encoder_.name
        self.vectors = encoder_.encode(d.texts)
        self.encode_seconds = time.perf_counter() - started

    def train_events(self) -> list:
        """Every event that is not a test step (nor, for cold-items, on a cold item)."""
        d = self.data
        keep = np.flatnonzero(self.train)
        return [
            Event(int(d.user[i]), int(d.item[i]), protocol.kind_of(float(d.rating[i])), float(d.timestamp[i]))
            for i in keep.tolist()
        ]

    def method(self, name: str, realtime: bool = True) -> baselines.Method:
        """The method `name`; "pyrerank+text" is pyrerank that, in the realtime variant, also
        observes the tags each user wrote (tags.csv) as text events at their time."""
        import pyrerank as pr

        d = self.data
        if name == "random":
            return baselines.RandomScores(self.seed)
        if name == "popularity":
            return baselines.Popularity(self.train_counts)
        if name == "co-engagement":
            return baselines.CoEngagement(self.liked_sequences, len(d.item_ids))
        if name in ("content", *PYRERANK) or name.startswith("pyrerank:"):
            encoder, vectors = self.tuned_encoder() if name == "pyrerank+tuned" else (self.encoder, self.vectors)
            if name == "content":
                rr = pr.Reranker(encoder="hashing", interest="decay", ranker="cosine")
            elif name == "pyrerank+cross":
                second = pr.get_ranker("cross-encoder", model=self.cross_encoder())
                rr = pr.Reranker(
                    encoder=encoder,
                    ranker=pr.get_ranker("cascade", first=pr.get_ranker("bilinear"), second=second, top=CROSS_TOP),
                )
            else:
                _, _, ranker = name.partition(":")
                rr = pr.Reranker(encoder=encoder, ranker=ranker) if ranker else pr.Reranker(encoder=encoder)
            rr.add_items(self.data.item_ids, self.data.texts, vectors=vectors)
            if name != "content":
                rr.fit(self.train_events())
            texts = d.user_texts if name == "pyrerank+text" and realtime else None
            return baselines.PyrerankMethod(name, rr, self.data.item_ids, texts)
        raise ValueError(
            f"unknown method {name!r}; known: {', '.join((*DEFAULT_METHODS, *PYRERANK[1:]))}, pyrerank:<ranker>"
        )

    def _trained_folder(self, kind: str, steps: int) -> Path:
        """Where the model of `kind` trained on this protocol's train log is kept for reruns."""
        log_name = "cold-items" if self.protocol_name == "cold-items" else "all-items"  # the others share a train log
        return Path(self.cache_dir or ".") / f"{kind}-{log_name}-seed{self.seed}-steps{steps}"

    def cross_encoder(self) -> Path:
        """The cross-encoder trained on this protocol's train events (pyrerank.train_cross_encoder,
        `cross_steps` steps), kept in the cache folder for reruns."""
        import pyrerank as pr

        folder = self._trained_folder("cross", self.cross_steps)
        if not (folder / "pyrerank_cross_encoder.json").is_file():
            texts = dict(zip(self.data.item_ids.tolist(), self.data.texts))
            pr.train_cross_encoder(
                texts,
                self.train_events(),
                folder,
                steps=self.cross_steps,
                max_length=CROSS_MAX_LENGTH,
                seed=self.seed,
                progress=self.progress,
            )
        return folder

    def tuned_encoder(self):
        """(the encoder tuned on this protocol's train events, every item's vector from it): the
        default pyrerank.tune_encoder run, kept in the cache folder for reruns."""
        import pyrerank as pr

        folder = self._trained_folder("tuned", self.tune_steps)
        if not (folder / "pyrerank_tuning.json").is_file():
            texts = dict(zip(self.data.item_ids.tolist(), self.data.texts))
            pr.tune_encoder(
                texts, self.train_events(), folder, steps=self.tune_steps, seed=self.seed, progress=self.progress
            )
        encoder = pr.get_encoder("transformers", model_path=folder, progress=self.progress)
        return encoder, encoder.encode(self.data.texts)

    def run(self, methods: tuple[str, ...], variant: str) -> dict[str, dict[str, float]]:
        """Each method's metrics over every step of the experiment's protocol (docs/EVAL.md) in `variant`."""
        if variant not in ("realtime", "static"):
            raise ValueError(f"variant must be 'realtime' or 'static', got {variant!r}")
        d = self.data
        built = {name: self.method(name, realtime=variant == "realtime") for name in methods}
        ranks: dict[str, list[int]] = {name: [] for name in methods}
        tops: dict[str, list[np.ndarray]] = {name: [] for name in methods}
        steps = list(
            protocol.steps(d, self.split, realtime=variant == "realtime", seed=self.seed, protocol=self.protocol_name)
        )
        self.n_steps = len(steps)
        started = time.perf_counter()
        for step in progress_bar(steps, len(steps), f"{self.protocol_name} ({variant})", self.progress):
            rows = np.searchsorted(d.item_ids, step.candidates)
            observes = [(i, not self.split.is_test[i]) for i in step.observe_before]  # train: fit counted it
            observes += [(i, True) for i in step.observe_quietly]  # for the user only: counted by nobody
            for i, counted_already in observes:
                kind = protocol.kind_of(float(d.rating[i]))
                for m in built.values():
                    m.observe(step.user, int(self.rows[i]), kind, float(d.timestamp[i]), counted_already)
            target_idx = self._target_index(step)
            now = float(d.timestamp[target_idx])
            for name, m in built.items():
                scores = np.asarray(m.score(step.user, rows, now), np.float64)
                ranks[name].append(protocol.rank_of_target(scores))
                tops[name].append(rows[np.argsort(-scores, kind="stable")[: metrics.K]])
        seconds = time.perf_counter() - started
        out = {}
        for name in methods:
            out[name] = {
                **metrics.accuracy(np.array(ranks[name])),
                **metrics.beyond_accuracy(tops[name], self.vectors, self.train_counts, len(d.item_ids)),
                **built[name].click_metrics(),
            }
        log.info("%s replay of %d steps took %.1f s", variant, len(steps), seconds)
        return out

    def _target_index(self, step: protocol.Step) -> int:
        start, stop = self.split.spans[step.user]
        idx = start + np.flatnonzero(
            self.split.is_test[start:stop] & (self.data.item[start:stop] == step.candidates[0])
        )
        return int(idx[0])
