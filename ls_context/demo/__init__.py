"""The local demo: a Label Studio in its own venv, the example scenarios, simulated labelers. Not runtime code."""
