"""Shared infrastructure for the portal services (no domain code lives here)."""
