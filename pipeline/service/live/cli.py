"""`hotline live-worker` and `hotline live-push`, registered on the main `hotline` app by `pipeline.service.cli`."""

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from models import HotlineError

DEFAULT_URL = "ws://127.0.0.1:8000/v1/live"
KEY_VARIABLE = "HOTLINE_LIVE_KEY"


def register(app: typer.Typer, load_settings) -> None:
    @app.command("live-worker")
    def live_worker(
        name: Annotated[str | None, typer.Option(help="consumer name in the group (default host:pid)")] = None,
    ) -> None:
        """Transcribe live calls as they happen (GET /v1/live → Redis → here), turns and ticket saved as they land;
        a call whose worker dies is taken over by another after HOTLINE_LIVE__LEASE_S."""
        import redis

        from pipeline.service.live.worker import LiveWorker, LiveWorkerOptions
        from pipeline.service.wiring import build_store, celery_queue, open_repository

        settings = load_settings()
        if not settings.redis_url:
            sys.stderr.write("error: a live worker needs HOTLINE_REDIS_URL\n")
            raise typer.Exit(2)
        logging.getLogger("pipeline.service.live").setLevel(logging.INFO)  # its lifecycle lines, masked
        _, repository = open_repository(settings)
        extractor = None
        if settings.extract.enabled:
            from pipeline.factory import build_extractor

            extractor = build_extractor(settings)
            warm_up(extractor)
        live = settings.live
        engines, options = live_engines(settings)
        worker = LiveWorker(
            redis.Redis.from_url(settings.redis_url),
            repository,
            build_store(settings),
            celery_queue(settings),
            live_transcribers(settings, engines, options),
            extractor,
            LiveWorkerOptions(
                lease_s=live.lease_s,
                concurrency=live.concurrency,
                abandon_after_s=live.abandon_after_s,
                keep_s=live.keep_s,
                extract_every_s=live.extract_every_s,
            ),
            name=name,
            refine=full_call_pass(engines, options, extractor) if live.refine else None,
        )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker.run(stop)

    @app.command("live-push")
    def live_push(
        recording: Annotated[Path, typer.Argument(help="a recorded call (WAV, MP3, …; mono or stereo)")],
        speed: Annotated[float, typer.Option(help="1.0 plays at the call's pace; 2.0 twice as fast; 0 at once")] = 1.0,
        meta: Annotated[Path | None, typer.Option(help="META.json (call_id, caller_number, agent_id, …)")] = None,
        url: Annotated[str, typer.Option(help="the live endpoint")] = DEFAULT_URL,
        key: Annotated[
            str | None, typer.Option(help=f"telephony API key (default: ${KEY_VARIABLE}, kept out of `ps`)")
        ] = None,
        frame_ms: Annotated[int, typer.Option(min=20, max=100, help="audio per frame, as PBXs send it")] = 20,
        encoding: Annotated[str, typer.Option(help="mulaw | alaw | pcm16 (8 kHz)")] = "mulaw",
    ) -> None:
        """Play a recorded call into GET /v1/live as a telephony system would (8 kHz G.711 frames in real time);
        prints the turns as they come back (numbers masked) and the final state."""
        from asr.audio import load_audio
        from extract.masking import mask_numbers
        from pipeline.meta import load_meta
        from pipeline.service.live.client import LivePush, LivePushError, frames_of
        from pipeline.service.live.wire import AudioFormat

        key = key or os.environ.get(KEY_VARIABLE)
        if not key:
            _fail(f"a telephony key is needed: --key or ${KEY_VARIABLE}", 2)
        if encoding not in ("mulaw", "alaw", "pcm16") or speed < 0:
            _fail("--encoding is mulaw, alaw or pcm16, and --speed is 0 or more", 2)
        try:
            call_meta = load_meta(meta, recording)
            samples, channels = telephone_samples(load_audio(recording))
        except HotlineError as error:
            _fail(f"{recording.name}: {error}", 3)
        except OSError as error:
            _fail(f"cannot read {recording}: {error.strerror or error}", 3)
        channel_map = dict(call_meta.channel_map)
        if channels == 1 and channel_map:
            channel_map = {}  # one channel holds both parties: the worker tells them apart
        fmt = AudioFormat(encoding, 8000, channels, channel_map)  # type: ignore[arg-type]

        def show(event: dict) -> None:
            data = event.get("data") or {}
            if event["type"] == "turn":
                who = {"agent": "接线员", "caller": "市民"}.get(data.get("role"), data.get("role"))
                when = f"{_clock(data['start'])}-{_clock(data['end'])}"
                print(f"[{when}] {who}: {mask_numbers(data.get('text', ''))}", flush=True)
            elif event["type"] == "final":
                print(f"final: {data.get('status')} ({data.get('reason')})", flush=True)

        push = LivePush(url, key, call_meta, fmt, show)
        try:
            result = push.play(frames_of(samples, fmt, frame_ms), frame_ms / 1000, speed)
        except LivePushError as error:
            _fail(f"live push of {call_meta.call_id} refused: {error}", 1)
        if result.final.get("status") != "done":
            _fail(f"call {call_meta.call_id} ended {result.final.get('status')}", 1)


def telephone_samples(audio) -> tuple:
    """A decoded recording (`models.Audio`, 16 kHz float) as 8 kHz int16 samples (n, channels), as a PBX has it."""
    import numpy as np
    import soxr

    if len(audio.channels) > 2:
        raise HotlineError(f"{len(audio.channels)} channels; live calls have one or two")
    stacked = np.stack(audio.channels, axis=1)
    resampled = soxr.resample(stacked, audio.sample_rate, 8000)
    return (np.clip(resampled, -1, 1) * 32767).astype(np.int16), stacked.shape[1]


def live_engines(settings):
    """The deployment's engines (no extractor: the worker has its own) and options, the model loaded now: the first
    call's first turn does not wait for it."""
    from asr.transcribe import load_whisper
    from pipeline.factory import build_engines, pipeline_options

    no_extraction = settings.extract.model_copy(update={"enabled": False})
    engines = build_engines(settings.model_copy(update={"extract": no_extraction}))
    load_whisper(engines.transcriber.config)
    return engines, pipeline_options(settings)


def live_transcribers(settings, engines, options):
    """The real LiveTranscriber (`pipeline.live`) over `engines`, with the deployment's live decode."""
    from pipeline.live import LiveFormat, LiveOptions, LiveTranscriber

    live = LiveOptions(beam_size=settings.live.beam_size, encoder_min_s=settings.live.encoder_min_s)

    def open_transcriber(fmt, meta, start_sample, state):
        # the contract's role names: the hotline's "operator" for the project's "agent"
        roles = {int(channel): "operator" if role == "agent" else role for channel, role in fmt.channel_map.items()}
        return LiveTranscriber(
            engines,
            LiveFormat(sample_rate=fmt.sample_rate, channels=fmt.channels, channel_roles=roles),
            meta,
            options=options,
            start_sample=start_sample,
            state=state,
            live=live,
        )

    return open_transcriber


def full_call_pass(engines, options, extractor):
    """The worker's `Refine`: the batch pipeline (`run_pipeline`, the same engines) and the extractor over a finished
    live call's assembled recording, as for a pushed call."""
    from pipeline.run import run_pipeline

    def refine(recording, meta):
        transcript = run_pipeline(recording, meta, engines, options)
        return transcript, extractor.extract(transcript, meta) if extractor is not None else None

    return refine


def warm_up(extractor) -> None:
    """One ticket from a one-line call: the extractor's lazy loads (LAC, dictionaries, the knowledge base's
    embeddings; seconds) happen at start, not at the first caller turn of the first call."""
    from models import CallMeta, CallTranscript, Turn

    turn = Turn("caller", "SPEAKER_01", 1, 0.0, 2.0, "你好，我想咨询一下公积金怎么提取。", 0.9, [])
    transcript = CallTranscript("warm-up", 2.0, 8000, 2, "zh", "warm-up", [turn])
    extractor.extract(transcript, CallMeta("warm-up"))


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _fail(message: str, code: int):
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)
