"""Ticket templates (工单模板): the form that fits the request type, and which of its fields are still empty.

Each template serves one or more request types and lists the ticket fields it requires. The
suggestion tells the operator which form to use and what to ask the caller before accepting it
(a complaint without the place it happened cannot be verified by the handling unit).
"""

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator, model_validator

from extract.resource_files import DATA_DIR, ConfigModel, Text, Texts, load_config_file
from models import REQUEST_TYPES, TICKET_FIELDS, FormSuggestion, TicketField

logger = logging.getLogger(__name__)

__all__ = ["GENERIC_REQUEST_TYPE", "FormTemplate", "load_forms", "suggest_form"]

DEFAULT_FORMS = DATA_DIR / "forms.yaml"

GENERIC_REQUEST_TYPE = "反映"
"""The hotline's catch-all request type; the template serving it is the fallback for any other."""


@dataclass(frozen=True)
class FormTemplate:
    """A ticket template: the request types it serves and its required fields, in the ticket's form order."""

    form_id: str
    name: str
    request_types: tuple[str, ...]
    required: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _default_forms() -> tuple[FormTemplate, ...]:
    return tuple(_read_forms(DEFAULT_FORMS))


def load_forms(path: Path | None = None) -> list[FormTemplate]:
    """Load the templates from a YAML file; None loads the bundled default (read once per process).

    Raises ValueError with a one-line message naming the file when a field is not one of
    `models.TICKET_FIELDS`, a request type is unknown or served twice, no template serves the
    generic request type (反映), or a key is missing.
    """
    if path is None:
        return list(_default_forms())
    return _read_forms(Path(path))


def suggest_form(
    request_type: str | None,
    fields: Mapping[str, TicketField],
    forms: list[FormTemplate] | None = None,
) -> FormSuggestion:
    """The template for `request_type` (the generic one when it is None or unserved), with the required
    fields whose value is still None or blank, in form order: what the operator should ask for."""
    forms = load_forms() if forms is None else forms
    template = _template_for(request_type, forms)
    missing = [name for name in template.required if _is_empty(fields.get(name))]
    return FormSuggestion(
        form_id=template.form_id, name=template.name, required=list(template.required), missing=missing
    )


def _template_for(request_type: str | None, forms: list[FormTemplate]) -> FormTemplate:
    if not forms:
        raise ValueError("no ticket templates to choose from")
    if request_type:
        for form in forms:
            if request_type in form.request_types:
                return form
    for form in forms:
        if GENERIC_REQUEST_TYPE in form.request_types:
            return form
    # a hand-built list without a 反映 template: its last entry is the most general one
    return forms[-1]


def _is_empty(field: TicketField | None) -> bool:
    return field is None or field.value is None or not str(field.value).strip()


def _read_forms(path: Path) -> list[FormTemplate]:
    data = load_config_file(path, FormsFile, "a 'forms' list")
    forms = [
        FormTemplate(
            form_id=item.id,
            name=item.name,
            request_types=item.request_types,
            # the operator fills the form top to bottom, so ask in the ticket's own order
            required=tuple(name for name in TICKET_FIELDS if name in item.required),
        )
        for item in data.forms
    ]
    logger.debug("loaded %d ticket templates from %s", len(forms), path)
    return forms


# --- the file's shape (forms.yaml) ---------------------------------------------------------------------


class FormEntry(ConfigModel):
    """A template: `id`, `name`, the `request_types` it serves (models.REQUEST_TYPES), the ticket fields it
    `required`s (models.TICKET_FIELDS)."""

    id: Text
    name: Text
    request_types: Texts
    required: Texts

    @field_validator("request_types")
    @classmethod
    def _known_request_types(cls, request_types: tuple[str, ...]) -> tuple[str, ...]:
        for request_type in request_types:
            if request_type not in REQUEST_TYPES:
                raise ValueError(f"unknown request type {request_type!r} (known: {' '.join(REQUEST_TYPES)})")
        return request_types

    @field_validator("required")
    @classmethod
    def _known_fields(cls, required: tuple[str, ...]) -> tuple[str, ...]:
        for name in required:
            if name not in TICKET_FIELDS:
                raise ValueError(f"unknown ticket field {name!r}")
        return required


class FormsFile(ConfigModel):
    """forms.yaml: `forms`, each id once, each request type served by one form, the generic one (反映) by one."""

    forms: tuple[FormEntry, ...]

    @model_validator(mode="after")
    def _each_request_type_once(self) -> "FormsFile":
        ids = [form.id for form in self.forms]
        duplicate_ids = sorted({form_id for form_id in ids if ids.count(form_id) > 1})
        if duplicate_ids:
            raise ValueError(f"duplicate form id {duplicate_ids[0]!r}")
        served: dict[str, str] = {}
        for form in self.forms:
            for request_type in form.request_types:
                if request_type in served:
                    raise ValueError(
                        f"request type {request_type!r} served by both {served[request_type]} and {form.id}"
                    )
                served[request_type] = form.id
        if GENERIC_REQUEST_TYPE not in served:
            raise ValueError(f"no form serves the generic request type {GENERIC_REQUEST_TYPE!r}")
        return self
