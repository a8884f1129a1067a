"""Built-in encoders: `hashing` (no dependencies), `transformers` and `minilm` (torch), registered
through the same hook as any plugin's."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def register_encoders(register: Register) -> None:
    from .hashing import HashingEncoder
    from .transformers import MiniLMEncoder, TransformersEncoder

    register(HashingEncoder)
    register(MiniLMEncoder)
    register(TransformersEncoder, name="transformers")
