"""`ls-context serve`: the model server on the embedded WSGI server, for one machine and the demo.

The command reaches the `ls-context` command line through the entry-point group
`ls_context.commands`; production runs the same app under gunicorn (`ml_backend.wsgi:app`).
"""

from __future__ import annotations

import threading

import click
from werkzeug.serving import make_server

from ls_context import logs
from ls_context.cli import pass_context
from ls_context.config import Config
from ls_context.errors import LSContextError

from .app import create_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=9090, show_default=True, type=click.IntRange(1, 65535))
@click.option("--insecure", is_flag=True, default=None,
              help="Accept webhooks without a secret (a machine nobody else reaches) [env LS_CONTEXT_INSECURE].")
@click.option("--sync-every", type=click.FloatRange(0), help="Recover lost webhooks every N seconds [env LS_CONTEXT_SYNC_EVERY].")
@pass_context
def serve(context, host, port, insecure, sync_every) -> None:
    """Run the ML backend, the webhook intake and the pages (embedded server; use gunicorn in production).

    Needs LS_CONTEXT_WEBHOOK_SECRET unless --insecure. Upgrades the store's schema first (under a lock).
    """
    config = context.config(insecure=insecure, sync_every=sync_every)
    logs.configure(config.log_level)
    server = _server(host, port, create_app(config))
    click.echo(f"ls-context listening on http://{host}:{server.server_port} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.app.extensions["ls_context"].close()


def start_in_thread(host: str, port: int, config: Config):
    """Serve `config` in a background thread; returns the server (`.shutdown()` stops it, `.backend` is the app's state)."""
    server = _server(host, port, create_app(config))
    server.url = f"http://{host}:{server.server_port}"
    server.backend = server.app.extensions["ls_context"]
    threading.Thread(target=server.serve_forever, name="ls-context-serve", daemon=True).start()
    return server


def _server(host: str, port: int, app):
    try:
        return make_server(host, port, app, threaded=True)
    except OSError as error:
        raise LSContextError(f"cannot listen on {host}:{port}: {error.strerror}") from None
