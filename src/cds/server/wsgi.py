"""The application `cds serve` runs: the HTTP app with the optional pages composed in."""

from __future__ import annotations

from flask import Flask

from cds.answer.handlers import Handler
from cds.config import Settings, load_settings
from cds.http.app import Clock, create_app


def build_app(
    settings: Settings | None = None,
    *,
    handlers: dict[str, Handler] | None = None,
    clock: Clock | None = None,
) -> Flask:
    settings = settings or load_settings()
    pages = []
    if settings.preview_enabled:  # card preview page for testing and demos; off in production
        from cds.tools.preview import preview_blueprint

        pages.append(preview_blueprint())
    if settings.smart_client_id:  # the SMART companion app, once the site has registered it with its EHR
        from cds.companion import companion_blueprint

        pages.append(companion_blueprint(settings))
    extra = {"clock": clock} if clock is not None else {}
    return create_app(settings, handlers=handlers, pages=pages, **extra)


def app_from_environment() -> Flask:
    """Entry point for WSGI servers: settings from CDS_CONFIG and CDS_* variables."""
    return build_app(load_settings())
