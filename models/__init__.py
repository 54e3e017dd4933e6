"""Pure data types shared by every layer: audio, speech spans, transcripts, call metadata, errors."""

from models.audio import Audio, SpeechSpan
from models.call import CallMeta
from models.errors import (
    AudioDecodeError,
    AudioTooLongError,
    DiarizationError,
    HotlineError,
    MetadataError,
    ModelLoadError,
    NoSpeechError,
)
from models.transcript import (
    SCHEMA_VERSION,
    CallTranscript,
    PipelineWarning,
    Segment,
    Turn,
    Word,
)

__all__ = [
    "SCHEMA_VERSION",
    "Audio",
    "AudioDecodeError",
    "AudioTooLongError",
    "CallMeta",
    "CallTranscript",
    "DiarizationError",
    "HotlineError",
    "MetadataError",
    "ModelLoadError",
    "NoSpeechError",
    "PipelineWarning",
    "Segment",
    "SpeechSpan",
    "Turn",
    "Word",
]
