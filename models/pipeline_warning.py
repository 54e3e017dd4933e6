"""A warning attached to a transcript or ticket."""

from dataclasses import dataclass


@dataclass
class PipelineWarning:
    """Something the pipeline noticed and acted on (e.g. a dropped hallucination)."""

    code: str
    message: str
    start: float | None = None
    end: float | None = None
