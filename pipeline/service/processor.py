"""The worker's `CallProcessor`: one call's pipeline (`pipeline.run.run_pipeline`) with the deployment's models.

Models load on the first job that needs them, once per process, and each phase loads only its own: a GPU worker
on the `asr` queue never loads the ticket extractor, a CPU worker on `extract` never loads Whisper. The API
process imports this module without the ASR stack (`pipeline.run` and `pipeline.factory` are imported on use).
"""

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from models import CallMeta, CallTranscript, Ticket
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.run import Engines, Extractor, PipelineOptions, StageHook


class PipelineProcessor:
    """`pipeline.service.jobs.CallProcessor` over `run_pipeline`, with the adapters `pipeline.factory` builds from
    `settings`. `engines` and `extractor`, when given, are adapters already loaded (tests share one set across
    apps): `engines` without an extractor, as the transcribe phase makes no ticket."""

    def __init__(
        self, settings: Settings, *, engines: "Engines | None" = None, extractor: "Extractor | None" = None
    ) -> None:
        if engines is not None and engines.extractor is not None:
            raise ValueError("the transcribe phase makes no ticket: pass the extractor on its own")
        self.settings = settings
        self._engines = engines
        self._extractor = extractor
        self._options: PipelineOptions | None = None
        self._loading = threading.Lock()  # the in-process queue may run several jobs at once

    def transcribe(self, recording: Path, meta: CallMeta, hook: "StageHook") -> CallTranscript:
        from pipeline.run import run_pipeline

        engines, options = self._transcription()
        return run_pipeline(recording, meta, engines, options, hook)

    def extract(self, transcript: CallTranscript, meta: CallMeta) -> Ticket | None:
        if not self.settings.extract.enabled:
            return None
        return self._ticket_extractor().extract(transcript, meta)

    def _transcription(self) -> "tuple[Engines, PipelineOptions]":
        from pipeline.factory import build_engines, pipeline_options

        with self._loading:
            if self._engines is None:
                # the one place where the transcribe phase is kept from extracting: its adapters have no extractor
                no_extraction = self.settings.extract.model_copy(update={"enabled": False})
                self._engines = build_engines(self.settings.model_copy(update={"extract": no_extraction}))
            if self._options is None:
                self._options = pipeline_options(self.settings)
            return self._engines, self._options

    def _ticket_extractor(self) -> "Extractor":
        from pipeline.factory import build_extractor

        with self._loading:
            if self._extractor is None:
                self._extractor = build_extractor(self.settings)
            return self._extractor
