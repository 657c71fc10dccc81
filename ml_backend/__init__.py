"""The model server that speaks Label Studio's ML-backend protocol; it builds on `ls_context`."""

from .app import create_app

__all__ = ["create_app"]
