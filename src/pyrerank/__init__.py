"""pyrerank: real-time personalized re-ranking, in-process.

    import pyrerank as pr
    rr = pr.Reranker(encoder="minilm", interest="decay", ranker="fusion")
    rr.add_items(ids, texts)
    rr.observe("alice", "item-42", "like")
    rr.rerank("alice", candidate_ids, k=10)
"""

from __future__ import annotations

from .errors import PyrerankError, PyrerankWarning
from .events import Event
from .hookspecs import hookimpl
from .interfaces import Encoder, InterestModel, Ranker, RankRequest, UserQuery
from .plugins import UnknownPluginError
from .reranker import Ranked, Reranker
from .stores import LoggedEvent, ProfileStore
from .stores.base import StoreError

__version__ = "0.1.0"

__all__ = [
    "Reranker",
    "Ranked",
    "Event",
    "Encoder",
    "InterestModel",
    "Ranker",
    "RankRequest",
    "UserQuery",
    "ProfileStore",
    "LoggedEvent",
    "StoreError",
    "hookimpl",
    "PyrerankError",
    "PyrerankWarning",
    "UnknownPluginError",
    "__version__",
]
