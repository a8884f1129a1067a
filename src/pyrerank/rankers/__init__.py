"""Built-in rankers: `cosine`, `fusion`, `mmr` and the learned `bilinear` and `mlp`, registered
through the same hook as any plugin's. Nothing outside this package imports them: the rest of
pyrerank knows rankers only through :class:`pyrerank.interfaces.Ranker` and the registry."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def register_rankers(register: Register) -> None:
    from .bilinear import BilinearRanker
    from .cosine import CosineRanker
    from .fusion import FusionRanker
    from .mlp import MLPRanker
    from .mmr import MMRRanker

    register(CosineRanker)
    register(FusionRanker)
    register(MMRRanker)
    register(BilinearRanker)
    register(MLPRanker)
