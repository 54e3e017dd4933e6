"""The service objects a request works with (`pipeline.service.wiring.Services`), as one FastAPI dependency.

Endpoints take `services: ServicesDep`; helpers that hold only the request call `services_of(request)`.
"""

from typing import Annotated

from fastapi import Depends, Request

from pipeline.service.wiring import Services


def services_of(request: Request) -> Services:
    """The app's services, set by `api.main`'s lifespan at start-up (or given by a test)."""
    return request.app.state.services


async def _services(request: Request) -> Services:
    # async: resolved on the event loop, without the thread-pool hop FastAPI gives a plain function
    return services_of(request)


ServicesDep = Annotated[Services, Depends(_services)]
