"""Configurations for tests: each test gets its own store and models, with the webhook secret on."""

from __future__ import annotations

from pathlib import Path

from ls_context.config import Config

ROOT = Path(__file__).resolve().parent.parent.parent
TEXT_GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"
WEBHOOK_SECRET = "test-webhook-secret"


def config_for(tmp_path: Path, **options) -> Config:
    """A configuration for one test: its own store and models under tmp_path, quick worker rounds and refits."""
    values = dict(model_dir=tmp_path / "models", webhook_secret=WEBHOOK_SECRET, worker_interval=0.2, refit_interval=0.0)
    values.update(options)
    return Config(**values)
