"""`ls-context serve`: the model server on the embedded WSGI server, for one machine and the demo."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import click
from werkzeug.serving import make_server

from .errors import LSContextError


def build_app(model_dir=None, guidelines=None, **overrides):
    from ml_backend import Settings, create_app
    from .guidelines import load

    if guidelines:
        load(guidelines)  # refuse a broken file now, not at the first prediction
    settings = Settings.from_env(
        model_dir=Path(model_dir) if model_dir else None, guidelines=Path(guidelines) if guidelines else None, **overrides,
    )
    return create_app(settings)


def start_in_thread(host: str, port: int, **settings):
    """Serve in a background thread; returns the server (call .shutdown() to stop it)."""
    server = _server(host, port, build_app(**settings))
    threading.Thread(target=server.serve_forever, name="ls-context-serve", daemon=True).start()
    return server


def serve_forever(host: str, port: int, **settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = _server(host, port, build_app(**settings))
    click.echo(f"ls-context listening on http://{host}:{server.server_port} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")


def _server(host: str, port: int, app):
    try:
        return make_server(host, port, app, threaded=True)
    except OSError as error:
        raise LSContextError(f"cannot listen on {host}:{port}: {error.strerror}") from None
