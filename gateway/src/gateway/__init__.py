"""API gateway and identity."""
