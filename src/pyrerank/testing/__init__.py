"""Conformance checks any Encoder, InterestModel, Ranker or ProfileStore (third-party ones too)
should pass, as mixins for pytest classes, plus the small catalog, event stream, private
Redis server and local Ray cluster that pyrerank's own tests use. Needs pytest and hypothesis (the ``test``
extra)."""

from .cluster import ray_cluster
from .parts import EncoderConformance, InterestModelConformance, RankerConformance
from .stores import StoreConformance, redis_server

__all__ = [
    "EncoderConformance",
    "InterestModelConformance",
    "RankerConformance",
    "StoreConformance",
    "ray_cluster",
    "redis_server",
]
