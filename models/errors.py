"""The project's exception hierarchy.

Library code raises these; entry points turn them into exit codes (CLI) or HTTP errors (api).
Messages are one line, meant for the person who sent the input, and never contain phone or ID numbers.
"""


class HotlineError(Exception):
    """Base class of every error this project raises on purpose."""


class AudioDecodeError(HotlineError):
    """The input is empty, truncated, not audio, or in a format that cannot be decoded."""


class AudioTooLongError(HotlineError):
    """The recording is longer than the configured limit (`max_duration_s`)."""


class NoSpeechError(HotlineError):
    """The recording decodes but contains no speech (silence, tone, noise only)."""


class ModelLoadError(HotlineError):
    """A model (Whisper, speaker encoder, pyannote pipeline) cannot be found, verified or loaded."""


class DiarizationError(HotlineError):
    """A diarization backend failed or was configured inconsistently."""


class MetadataError(HotlineError):
    """Call metadata (META.json / the push form) is malformed."""


class TranscriptFormatError(HotlineError):
    """A transcript document (the pipeline's JSON, input to `hotline extract`) is malformed."""


class RecordingTooLargeError(HotlineError):
    """A pushed recording is larger than the configured limit (`max_upload_bytes`); nothing is kept."""


class RecordingNotFoundError(HotlineError):
    """No recording is stored under this key (never stored, or deleted by the retention policy)."""


class StorageError(HotlineError):
    """The recording store or database could not be reached; transient, the operation may be retried."""


class CallNotFoundError(HotlineError):
    """No call with this id."""


class CallConflictError(HotlineError):
    """A call id was pushed again with a different recording, or a change conflicts with the call's state."""


class ProcessingError(HotlineError):
    """Processing a call failed repeatedly for reasons outside the recording (the call is marked failed)."""
