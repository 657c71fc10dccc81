"""The one family of errors a user can cause; the edges turn them into one clear line."""


class LSContextError(Exception):
    """Something the user can fix: bad input, missing setup, an unreachable service."""


class NotReady(LSContextError):
    """A part of the machine that ls-context needs (Label Studio, Chromium) is missing or will not start."""
