"""Conformance checks any Encoder, InterestModel, Ranker or ProfileStore (third-party ones too)
should pass, as mixins for pytest classes, plus the small catalog, event stream and private
Redis server that pyrerank's own store tests use. Needs pytest and hypothesis (the ``test``
extra)."""

from .parts import EncoderConformance, InterestModelConformance, RankerConformance
from .stores import StoreConformance, redis_server

__all__ = ["EncoderConformance", "InterestModelConformance", "RankerConformance", "StoreConformance", "redis_server"]
