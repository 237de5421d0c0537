"""The analytical dashboard: ``/dashboard`` and the ``/api/v1/stats/overview`` aggregate."""

from gateway.dashboard.routes import router

__all__ = ["router"]
