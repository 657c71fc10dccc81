"""ls-context: context for labelers and proof of quality for leads, inside Label Studio."""

__version__ = "0.1.0"
