"""Pure data types shared by every layer: audio, speech spans, transcripts, tickets, call metadata, errors."""

from models.audio import Audio, SpeechSpan
from models.call import CallMeta
from models.errors import (
    AudioDecodeError,
    AudioTooLongError,
    CallConflictError,
    CallNotFoundError,
    DiarizationError,
    HotlineError,
    MetadataError,
    ModelLoadError,
    NoSpeechError,
    ProcessingError,
    RecordingNotFoundError,
    RecordingTooLargeError,
    StorageError,
    TranscriptFormatError,
)
from models.pipeline_warning import PipelineWarning
from models.ticket import (
    REQUEST_TYPES,
    REVIEW_LEVELS,
    TICKET_FIELDS,
    DepartmentSuggestion,
    Evidence,
    FormSuggestion,
    KbAnswer,
    Ticket,
    TicketField,
)
from models.transcript import (
    SCHEMA_VERSION,
    CallTranscript,
    Segment,
    Turn,
    Word,
)

__all__ = [
    "REQUEST_TYPES",
    "REVIEW_LEVELS",
    "SCHEMA_VERSION",
    "TICKET_FIELDS",
    "Audio",
    "AudioDecodeError",
    "AudioTooLongError",
    "CallConflictError",
    "CallMeta",
    "CallNotFoundError",
    "CallTranscript",
    "DepartmentSuggestion",
    "DiarizationError",
    "Evidence",
    "FormSuggestion",
    "HotlineError",
    "KbAnswer",
    "MetadataError",
    "ModelLoadError",
    "NoSpeechError",
    "PipelineWarning",
    "ProcessingError",
    "RecordingNotFoundError",
    "RecordingTooLargeError",
    "Segment",
    "SpeechSpan",
    "StorageError",
    "Ticket",
    "TicketField",
    "TranscriptFormatError",
    "Turn",
    "Word",
]
