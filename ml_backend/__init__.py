"""The model server that speaks Label Studio's ML-backend protocol."""

from .app import create_app
from .settings import Settings

__all__ = ["create_app", "Settings"]
