"""pyrerank's own implementations, registered through the same hooks as any plugin."""

from __future__ import annotations

from .hookspecs import Register, hookimpl


@hookimpl
def register_encoders(register: Register) -> None:
    from .encoders.hashing import HashingEncoder
    from .encoders.transformers import MiniLMEncoder, TransformersEncoder

    register(HashingEncoder)
    register(MiniLMEncoder)
    register(TransformersEncoder, name="transformers")


@hookimpl
def register_interest_models(register: Register) -> None:
    from .interest.decay import DecayInterest
    from .interest.logistic import LogisticInterest
    from .interest.multi import MultiInterest

    register(DecayInterest)
    register(MultiInterest)
    register(LogisticInterest)


@hookimpl
def register_rankers(register: Register) -> None:
    from .rankers.cosine import CosineRanker
    from .rankers.fusion import FusionRanker
    from .rankers.mmr import MMRRanker

    register(CosineRanker)
    register(FusionRanker)
    register(MMRRanker)


@hookimpl
def register_profile_stores(register: Register) -> None:
    from .stores.memory import MemoryStore
    from .stores.redis_store import RedisStore
    from .stores.sqlite import SQLiteStore

    register(MemoryStore)
    register(SQLiteStore)
    register(RedisStore)
