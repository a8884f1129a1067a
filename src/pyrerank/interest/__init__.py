"""Built-in interest models: `decay`, `multi` and `logistic`, registered through the same hook as
any plugin's."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def register_interest_models(register: Register) -> None:
    from .decay import DecayInterest
    from .logistic import LogisticInterest
    from .multi import MultiInterest

    register(DecayInterest)
    register(MultiInterest)
    register(LogisticInterest)
