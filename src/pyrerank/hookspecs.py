"""Hook specifications: how plugins add encoders, interest models, rankers, profile stores and
explainers.

A plugin module (or a package exposing one through the ``pyrerank`` entry-point group)::

    import pyrerank as pr

    @pr.hookimpl
    def register_encoders(register):
        register(MyEncoder)               # a class or zero-argument factory: built on first use
        register(my_encoder_instance)     # or a ready instance

``register(thing, name=None)`` takes the name from ``thing.name`` unless given.
Register a class or factory for anything that holds state (rankers learn weights), so that
each Reranker gets its own instance; it is called with the options the caller gives
(``Reranker(..., encoder_options={...})``, ``pr.get_encoder(name, **options)``), and with
``device=`` where it takes that argument. The interfaces are in :mod:`pyrerank.interfaces`.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("pyrerank")
hookimpl = pluggy.HookimplMarker("pyrerank")

Register = Callable[..., None]


@hookspec
def register_encoders(register: Register) -> None:
    """Register :class:`~pyrerank.Encoder` implementations (instances, classes or factories)."""


@hookspec
def register_interest_models(register: Register) -> None:
    """Register :class:`~pyrerank.InterestModel` implementations."""


@hookspec
def register_rankers(register: Register) -> None:
    """Register :class:`~pyrerank.Ranker` implementations."""


@hookspec
def register_profile_stores(register: Register) -> None:
    """Register :class:`~pyrerank.ProfileStore` classes or factories. The name is the URL
    scheme: ``Reranker(store="name://...")`` calls ``factory(url="name://...")``, and
    ``Reranker(store="name")`` calls ``factory()``."""


@hookspec
def register_explainers(register: Register) -> None:
    """Register :class:`~pyrerank.Explainer` implementations (reasons in words for
    ``Reranker.explain``)."""
