"""Built-in explainers: `template`, registered through the same hook as any plugin's."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def register_explainers(register: Register) -> None:
    from .template import TemplateExplainer

    register(TemplateExplainer)
