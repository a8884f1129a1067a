"""The plugin registry: built-ins and third-party packages, discovered once and lazily.

Third-party packages are found through the entry-point group ``pyrerank``; set
``PYRERANK_DISABLE_PLUGIN_AUTOLOAD=1`` to load built-ins only.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

import pluggy

from . import hookspecs
from .errors import PyrerankError
from .interfaces import Encoder, Explainer, InterestModel, ProfileStore, Ranker

INTERFACES: dict[str, type] = {
    "encoder": Encoder,
    "interest": InterestModel,
    "ranker": Ranker,
    "store": ProfileStore,
    "explainer": Explainer,
}
KINDS = {
    "encoder": "register_encoders",
    "interest": "register_interest_models",
    "ranker": "register_rankers",
    "store": "register_profile_stores",
    "explainer": "register_explainers",
}


def _builtin_plugins() -> list[tuple[str, Any]]:
    """pyrerank's own implementations: each package registers its built-ins through the hooks."""
    from . import encoders, explainers, interest, rankers, stores

    return [(module.__name__, module) for module in (encoders, interest, rankers, stores, explainers)]


class UnknownPluginError(PyrerankError, KeyError):
    """A name that no registered plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclasses.dataclass
class Entry:
    name: str
    factory: Callable[[], Any] | None  # None for a registered instance
    instance: Any = None
    source: str = "?"  # the plugin that registered it


class Registry:
    """Name -> implementation, per kind. Thread-safe; loads plugins on first use."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, dict[str, Entry]] | None = None
        self.manager = pluggy.PluginManager("pyrerank")
        self.manager.add_hookspecs(hookspecs)

    def _load(self) -> dict[str, dict[str, Entry]]:
        with self._lock:
            if self._entries is not None:
                return self._entries
            for name, module in _builtin_plugins():
                if not self.manager.is_registered(module):
                    self.manager.register(module, name=name)
            if os.environ.get("PYRERANK_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0"):
                self.manager.load_setuptools_entrypoints("pyrerank")
            self.manager.check_pending()
            entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
            for kind, hook_name in KINDS.items():
                for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                    source = self.manager.get_name(impl.plugin) or repr(impl.plugin)
                    impl.function(register=self._register_into(entries[kind], kind, source))
            self._entries = entries
            return entries

    @staticmethod
    def _register_into(table: dict[str, Entry], kind: str, source: str) -> Callable[..., None]:
        def register(thing: Any, name: str | None = None) -> None:
            name = name or getattr(thing, "name", None)
            if not isinstance(name, str) or not name:
                raise PyrerankError(f"plugin {source} registered a {kind} without a name: pass name=...")
            if isinstance(thing, INTERFACES[kind]):
                table[name] = Entry(name, None, thing, source)
            elif callable(thing):
                table[name] = Entry(name, thing, None, source)
            else:
                raise PyrerankError(
                    f"plugin {source} registered {thing!r} as {kind} {name!r}: expected a "
                    f"{INTERFACES[kind].__name__} instance, class or zero-argument factory"
                )

        return register

    def register_plugin(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object (module or class with hookimpls) at run time; a hook whose
        name matches no specification (a typo) raises pluggy.PluginValidationError."""
        with self._lock:
            self._load()
            self.manager.register(plugin, name=name)
            try:
                self.manager.check_pending()
            except pluggy.PluginValidationError:
                self.manager.unregister(plugin)
                raise
            self._entries = None

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered under `name` (what it registered is gone from then on)."""
        with self._lock:
            self.manager.unregister(name=name)
            self._entries = None

    def names(self, kind: str) -> list[str]:
        return sorted(self._load()[kind])

    def entries(self, kind: str) -> list[Entry]:
        return [self._load()[kind][n] for n in self.names(kind)]

    def _entry(self, kind: str, name: str) -> Entry:
        table = self._load()[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise UnknownPluginError(f"no {kind} named {name!r}; registered: {known}")
        return table[name]

    def check_options(self, kind: str, name: str, options: dict[str, Any]) -> None:
        """Raises UnknownPluginError for an unregistered name, TypeError naming any option that
        the implementation's factory does not take."""
        entry = self._entry(kind, name)
        if entry.factory is None:
            if options:
                raise TypeError(
                    f"{kind} {name!r} was registered as an instance and takes no options, got {sorted(options)}"
                )
            return
        parameters = _parameters(entry.factory)
        if parameters is None:  # takes **options, or has no signature to read
            return
        unknown = sorted(set(options) - set(parameters))
        if unknown:
            raise TypeError(f"{kind} {name!r} got unknown options {unknown}; it takes {sorted(parameters) or 'none'}")

    def create(self, kind: str, name: str, *, device: str | None = None, **options: Any) -> Any:
        """A new instance from a registered factory (or the registered instance itself).
        `device` is passed on only to factories that take a ``device`` parameter."""
        self.check_options(kind, name, options)
        entry = self._entry(kind, name)
        if entry.factory is None:
            return entry.instance
        if device is not None and takes_device(entry.factory):
            options = {"device": device, **options}
        made = entry.factory(**options)
        if not isinstance(made, INTERFACES[kind]):
            raise PyrerankError(
                f"{kind} {name!r} from {entry.source} built {made!r}, not a {INTERFACES[kind].__name__}"
            )
        return made


def _parameters(factory: Callable[..., Any]) -> list[str] | None:
    """The keyword parameters `factory` takes, or None if it takes any (**kwargs) or cannot tell."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def takes_device(factory: Callable[..., Any]) -> bool:
    """True if `factory` has a ``device`` parameter (explicitly or through **options)."""
    parameters = _parameters(factory)
    return parameters is None or "device" in parameters


registry = Registry()


def get_encoder(name: str, *, device: str | None = None, **options: Any) -> Encoder:
    """A new encoder by registered name; ``"transformers:/path/to/model"`` passes the path as
    ``model_path``. `device` reaches encoders that take one; other `options` go to the class."""
    name, _, argument = name.partition(":")
    if argument:
        options = {"model_path": argument, **options}
    return registry.create("encoder", name, device=device, **options)


def get_interest_model(name: str, **options: Any) -> InterestModel:
    """A new interest model by registered name, built with `options`."""
    return registry.create("interest", name, **options)


def get_ranker(name: str, **options: Any) -> Ranker:
    """A new ranker by registered name, built with `options` (a ``device`` among them reaches
    only rankers that take one)."""
    return registry.create("ranker", name, **options)


def get_explainer(name: str, **options: Any) -> Explainer:
    """A new explainer by registered name, built with `options`."""
    return registry.create("explainer", name, **options)


def get_store(url: str, **options: Any) -> ProfileStore:
    """A store by URL ("sqlite:///path.db", "redis://host:6379/0") or bare name ("memory"): the
    registered store named by the URL's scheme, called with ``url=url`` and `options`."""
    if not isinstance(url, str):
        raise TypeError(f"store must be a store URL such as 'sqlite:///path.db' or a ProfileStore, got {url!r}")
    scheme = url.partition("://")[0]
    if scheme != url:
        options = {"url": url, **options}
    return registry.create("store", scheme, **options)
