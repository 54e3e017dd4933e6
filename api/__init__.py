"""The HTTP service: FastAPI app (`api.main`), routes under /v1, API-key roles, health and metrics."""
