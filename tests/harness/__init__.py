"""Test harness: a real Label Studio and a real browser, started by pytest fixtures."""
