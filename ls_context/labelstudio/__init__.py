"""Label Studio: the API gateway (the one user of the SDK's client), label-config injection, project setup."""

from .gateway import Gateway, LabelStudioError

__all__ = ["Gateway", "LabelStudioError"]
