"""Logging for every entry point alike (the CLI, `serve`, `worker`, gunicorn's workers), at LOG_LEVEL."""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The lead's token and a labeler's personal token ride in page URLs: access logs show them masked.
TOKENS = re.compile(r"(lead=|/feedback/)[^&\s\"?]+")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


class MaskTokens(logging.Filter):
    """Masks the page tokens in a request line before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = TOKENS.sub(r"\1...", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure(level: str = "INFO") -> None:
    """Send ls-context's records to stderr at `level`; a host that configured logging keeps its handlers.

    Under gunicorn the root logger has no handler and stays at WARNING, which would drop the INFO
    lines a lead relies on (model fitted, guidelines in use, events recovered). Records reach the
    root's handlers whatever the root's own level, so only our two packages' levels are set.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    for name in ("ls_context", "ml_backend"):
        logging.getLogger(name).setLevel(level.upper())
    for name in ACCESS_LOGGERS:
        access = logging.getLogger(name)
        if not any(isinstance(f, MaskTokens) for f in access.filters):
            access.addFilter(MaskTokens())
