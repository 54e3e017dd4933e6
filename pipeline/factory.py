"""Build the pipeline's adapters from settings, once per process."""

from asr.audio import DecodeOptions
from asr.diarize.channel import ChannelDiarizer
from asr.diarize.embedding import EmbeddingDiarizer, EmbeddingDiarizerOptions
from asr.transcribe import FasterWhisperTranscriber, TranscribeOptions, WhisperConfig
from asr.vad import VadOptions, WebrtcSpeechDetector
from asr.voiceprints import VoiceprintStore
from asr.weights import resolve_whisper_model
from models import DiarizationError, ModelLoadError
from pipeline.run import Engines, Extractor, PipelineOptions
from pipeline.settings import Settings


def build_engines(settings: Settings, model: str | None = None) -> Engines:
    """Adapters for a run; `model` overrides settings.model (the CLI's --model)."""
    model_path = resolve_whisper_model(model or settings.model, settings.resolved_model_cache)
    transcriber = FasterWhisperTranscriber(
        WhisperConfig(
            model_path=model_path,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            download_root=str(settings.resolved_model_cache),
        ),
        TranscribeOptions(
            initial_prompt=settings.initial_prompt,
            hotwords=tuple(settings.hotwords),
            batch_size=settings.batch_size,
            beam_size=settings.beam_size,
        ),
    )
    store = VoiceprintStore(settings.voiceprint_dir)
    return Engines(
        speech_detector=WebrtcSpeechDetector(VadOptions(**settings.vad.model_dump())),
        transcriber=transcriber,
        mono_diarizer=build_mono_diarizer(settings),
        stereo_diarizer=ChannelDiarizer(),
        voiceprints=store.load,
        extractor=build_extractor(settings) if settings.extract.enabled else None,
        reviser=build_reviser(settings) if settings.repair else None,
    )


def build_reviser(settings: Settings):
    """Sound-alike repair with the deployment's lexicon (a bad lexicon file is a setting error)."""
    from extract.lexicon import load_lexicon
    from extract.repair import LexiconReviser

    try:
        return LexiconReviser(load_lexicon(settings.lexicon))
    except ValueError as error:
        raise ModelLoadError(str(error)) from error


def build_extractor(settings: Settings) -> Extractor:
    """The ticket extractor with the deployment's catalogue, KB, forms, cue words and routing model."""
    from extract.address import DeploymentPlace
    from extract.ticket import ExtractOptions, TicketExtractor, load_resources

    config = settings.extract
    try:
        resources = load_resources(
            catalogue=config.catalogue,
            signals=config.signals,
            forms=config.forms,
            knowledge_base=config.knowledge_base,
            routing_model=config.routing_model,
            lexicon=settings.lexicon,
        )
    except ValueError as error:  # a malformed catalogue/KB/forms file is a setting error
        raise ModelLoadError(str(error)) from error
    return TicketExtractor(resources, ExtractOptions(place=DeploymentPlace(config.province, config.city)))


def build_mono_diarizer(settings: Settings):
    if settings.diarizer == "pyannote" or (settings.diarizer == "auto" and settings.pyannote_config):
        from asr.diarize.pyannote_backend import PyannoteDiarizer

        if settings.pyannote_config is None:
            raise DiarizationError("HOTLINE_DIARIZER=pyannote needs HOTLINE_PYANNOTE_CONFIG (a local config.yaml)")
        return PyannoteDiarizer(settings.pyannote_config, num_speakers=settings.num_speakers, device=settings.device)
    return EmbeddingDiarizer(EmbeddingDiarizerOptions(num_speakers=settings.num_speakers, device=settings.device))


def pipeline_options(settings: Settings) -> PipelineOptions:
    return PipelineOptions(
        decode=DecodeOptions(max_duration_s=settings.max_duration_s),
        hotwords=tuple(settings.hotwords),
    )
