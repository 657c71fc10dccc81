"""Ready Label Studio configs, already extended, each with matching guidelines (shipped as package data)."""
