"""The public names of each package are pinned, so removing one is a deliberate change."""

import models


def test_models_exports_exactly_the_documented_names():
    assert sorted(models.__all__) == sorted(
        [
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
            "REQUEST_TYPES",
            "REVIEW_LEVELS",
            "TICKET_FIELDS",
            "DepartmentSuggestion",
            "Evidence",
            "FormSuggestion",
            "KbAnswer",
            "Ticket",
            "TicketField",
            "TicketFlag",
            "top_department",
            "TranscriptFormatError",
            "RecordingTooLargeError",
            "RecordingNotFoundError",
            "StorageError",
            "CallNotFoundError",
            "CallConflictError",
            "ProcessingError",
        ]
    )
    for name in models.__all__:
        assert hasattr(models, name)


def test_every_error_is_a_hotline_error():
    for name in ("AudioDecodeError", "AudioTooLongError", "NoSpeechError", "ModelLoadError", "DiarizationError"):
        assert issubclass(getattr(models, name), models.HotlineError)
    assert issubclass(models.MetadataError, models.HotlineError)
