"""pyrerank as an HTTP service (``pip install 'pyrerank[serve]'``).

    from pyrerank.serve import create_app
    app = create_app(pr.Reranker.load("model/", store="sqlite:///profiles.db"))   # an ASGI app

or ``pyrerank serve model/ --store sqlite:///profiles.db``. Endpoints: POST /rerank, /explain,
/observe; DELETE /users/{user}; PUT and DELETE /items; GET /healthz, /readyz, /metrics, /docs.
"""

from __future__ import annotations

try:
    from .app import create_app
except ImportError as exc:  # fastapi, uvicorn or prometheus-client missing
    raise ImportError(
        f"the HTTP service needs the serve extra: pip install 'pyrerank[serve]' ({exc.name} missing)"
    ) from exc

__all__ = ["create_app"]
