"""The WSGI entry for gunicorn: `gunicorn 'ml_backend.wsgi:app'`, configured from the environment."""

from .app import create_app

app = create_app()
