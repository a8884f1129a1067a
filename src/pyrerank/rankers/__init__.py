"""Built-in rankers: `cosine`, `fusion`, `mmr`, the learned `bilinear`, `mlp` and `cross-encoder`,
and `cascade` (two of them in stages), registered through the same hook as any plugin's. The
rest of pyrerank knows rankers only through :class:`pyrerank.interfaces.Ranker` and the
registry: ``pr.get_ranker("cascade", first=..., second=...)`` composes two stages."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def register_rankers(register: Register) -> None:
    from .bilinear import BilinearRanker
    from .cascade import Cascade
    from .cosine import CosineRanker
    from .cross_encoder import CrossEncoderRanker
    from .fusion import FusionRanker
    from .mlp import MLPRanker
    from .mmr import MMRRanker

    register(CosineRanker)
    register(FusionRanker)
    register(MMRRanker)
    register(BilinearRanker)
    register(MLPRanker)
    register(CrossEncoderRanker)
    register(Cascade)
