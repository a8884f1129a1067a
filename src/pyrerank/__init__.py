"""pyrerank: real-time personalized re-ranking, in-process.

    import pyrerank as pr
    rr = pr.Reranker(encoder="minilm", interest="decay", ranker="bilinear")
    rr.add_items(ids, texts)
    rr.observe("alice", "item-42", "like")
    rr.rerank("alice", candidate_ids, k=10)

The plugin contract (Encoder, InterestModel, Ranker, ProfileStore and what flows between them)
is :mod:`pyrerank.interfaces`; conformance checks for plugins are in :mod:`pyrerank.testing`.
"""

from __future__ import annotations

from .errors import PyrerankError, PyrerankWarning, StoreError
from .events import Event
from .hookspecs import hookimpl
from .interfaces import (
    Encoder,
    Evidence,
    Explainer,
    InterestModel,
    LoggedEvent,
    ProfileStore,
    Ranker,
    RankRequest,
    TrainingExamples,
    UserQuery,
)
from .learning.cross import train_cross_encoder
from .learning.tune import tune_encoder
from .plugins import UnknownPluginError, get_encoder, get_explainer, get_interest_model, get_ranker, get_store
from .reranker import Ranked, Reranker

__version__ = "0.5.0"

__all__ = [
    "Reranker",
    "Ranked",
    "Event",
    "Encoder",
    "InterestModel",
    "Ranker",
    "ProfileStore",
    "RankRequest",
    "UserQuery",
    "TrainingExamples",
    "LoggedEvent",
    "Explainer",
    "Evidence",
    "get_encoder",
    "get_explainer",
    "get_interest_model",
    "get_ranker",
    "get_store",
    "tune_encoder",
    "train_cross_encoder",
    "hookimpl",
    "PyrerankError",
    "PyrerankWarning",
    "StoreError",
    "UnknownPluginError",
    "__version__",
]
