"""The one family of errors a user can cause; the edges turn them into one clear line."""


class LSContextError(Exception):
    """Something the user can fix: bad input, missing setup, an unreachable service."""


def first_line(error, limit: int = 300) -> str:
    """An error (or its stored text) as one short line: database errors carry their SQL on the next ones."""
    text = str(error or "").strip()
    return text.splitlines()[0][:limit] if text else ""


class NotReady(LSContextError):
    """A part of the machine that ls-context needs (Label Studio, Chromium) is missing or will not start."""
