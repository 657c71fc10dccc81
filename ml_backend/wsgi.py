"""The WSGI entry for gunicorn: `gunicorn 'ml_backend.wsgi:app'`, configured like every command.

Each gunicorn worker imports this module: it checks the store's schema but never changes it
(`ls-context db upgrade` does, once), so workers starting together cannot race on it. A setting
the admin must fix is one line on stderr, and the worker exits with gunicorn's boot-error code, so
gunicorn stops instead of restarting it in a loop.
"""

import sys

from ls_context import logs
from ls_context.config import Config
from ls_context.errors import LSContextError

from .app import create_app

WORKER_BOOT_ERROR = 3  # gunicorn's own code for "this worker cannot boot": the master then shuts down

try:
    config = Config.resolve()
    logs.configure(config.log_level)
    app = create_app(config, migrate=False)
except LSContextError as error:
    print(f"Error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(WORKER_BOOT_ERROR) from None
