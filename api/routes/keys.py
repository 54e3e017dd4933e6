"""/v1/keys: API keys and their roles (admin only)."""

from fastapi import APIRouter

from api.auth import AdminKey
from api.deps import ServicesDep
from api.errors import ApiError
from api.schemas import KeyCreated, KeyIn, KeyOut
from pipeline.service.webhooks import validate_webhook_url

router = APIRouter(prefix="/v1/keys", tags=["admin"])

MAX_KEY_ID = 2**63 - 1  # the largest integer SQLite (and PostgreSQL's bigint) can store


@router.get("", response_model=list[KeyOut], summary="List keys (never the keys themselves)")
def list_keys(_principal: AdminKey, services: ServicesDep) -> list[KeyOut]:
    return [KeyOut.model_validate(row, from_attributes=True) for row in services.keys.all()]


@router.post("", response_model=KeyCreated, status_code=201, summary="Create a key; shown once")
def post_key(body: KeyIn, _principal: AdminKey, services: ServicesDep) -> KeyCreated:
    if body.webhook_url:
        try:
            validate_webhook_url(body.webhook_url, allow_private=services.settings.webhooks.allow_private)
        except ValueError as error:
            raise ApiError(422, "invalid_request", str(error)) from None
    try:
        row, key = services.keys.create(
            body.role, body.name, webhook_url=body.webhook_url, agent_id=body.agent_id, team=body.team
        )
    except ValueError as error:  # a team on a key that is not an operator's
        raise ApiError(422, "invalid_request", str(error)) from None
    out = KeyOut.model_validate(row, from_attributes=True)
    return KeyCreated(**out.model_dump(), key=key, webhook_secret=row.webhook_secret)


@router.delete("/{key_id}", status_code=204, summary="Revoke a key (and end its login sessions)")
def delete_key(key_id: int, _principal: AdminKey, services: ServicesDep) -> None:
    if not 1 <= key_id <= MAX_KEY_ID:  # no such key; the database driver would fail on an out-of-range id
        raise ApiError(404, "not_found", f"no active key {key_id}")
    if not services.keys.revoke(key_id):
        raise ApiError(404, "not_found", f"no active key {key_id}")
