"""The HTTP service (`papers serve`): an app factory over routers, middleware and background jobs."""

from rag.service.app import create_app, serve

__all__ = ["create_app", "serve"]
