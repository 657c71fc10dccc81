"""The WSGI entry for gunicorn: `gunicorn 'ml_backend.wsgi:app'`, configured like every command.

Each gunicorn worker imports this module: it checks the store's schema but never changes it
(`ls-context db upgrade` does, once), so workers starting together cannot race on it.
"""

from ls_context import logs
from ls_context.config import Config

from .app import create_app

config = Config.resolve()
logs.configure(config.log_level)
app = create_app(config, migrate=False)
