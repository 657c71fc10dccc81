"""The one place that talks to Label Studio's HTTP API (through label-studio-sdk)."""

from __future__ import annotations

import os

from .errors import LSContextError


def connect(url: str | None = None, api_key: str | None = None):
    """A client for the Label Studio at `url`, from LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY by default.

    The key may be a legacy token or a personal access token; the SDK handles both.
    """
    from label_studio_sdk import LabelStudio

    url = url or os.environ.get("LABEL_STUDIO_URL")
    api_key = api_key or os.environ.get("LABEL_STUDIO_API_KEY")
    if not url or not api_key:
        raise LSContextError("set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (Account & Settings > Access Token)")
    return LabelStudio(base_url=url.rstrip("/"), api_key=api_key, timeout=30)


def find_project(client, title: str):
    """The first project with this exact title, or None."""
    for project in client.projects.list():
        if project.title == title:
            return project
    return None
