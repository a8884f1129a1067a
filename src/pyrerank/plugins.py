"""The plugin registry: built-ins and third-party packages, discovered once and lazily.

Third-party packages are found through the entry-point group ``pyrerank``; set
``PYRERANK_DISABLE_PLUGIN_AUTOLOAD=1`` to load built-ins only.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import Any

import pluggy

from . import hookspecs
from .errors import PyrerankError
from .interfaces import Encoder, InterestModel, Ranker
from .stores.base import ProfileStore

INTERFACES: dict[str, type] = {"encoder": Encoder, "interest": InterestModel, "ranker": Ranker, "store": ProfileStore}
KINDS = {
    "encoder": "register_encoders",
    "interest": "register_interest_models",
    "ranker": "register_rankers",
    "store": "register_profile_stores",
}


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
            from . import builtins

            if not self.manager.is_registered(builtins):
                self.manager.register(builtins, name="pyrerank.builtins")
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

    def names(self, kind: str) -> list[str]:
        return sorted(self._load()[kind])

    def entries(self, kind: str) -> list[Entry]:
        return [self._load()[kind][n] for n in self.names(kind)]

    def create(self, kind: str, name: str, **options: Any) -> Any:
        """A new instance from a registered factory (or the registered instance itself)."""
        table = self._load()[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise UnknownPluginError(f"no {kind} named {name!r}; registered: {known}")
        entry = table[name]
        if entry.factory is None:
            if options:
                raise TypeError(f"{kind} {name!r} was registered as an instance and takes no options")
            return entry.instance
        made = entry.factory(**options)
        if not isinstance(made, INTERFACES[kind]):
            raise PyrerankError(f"{kind} {name!r} from {entry.source} built {made!r}, not a {INTERFACES[kind].__name__}")
        return made


registry = Registry()
