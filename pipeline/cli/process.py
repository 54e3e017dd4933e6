"""`hotline process` (a recording or a folder of them, in-process) and `hotline extract` (the ticket again)."""

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from models import AudioDecodeError, CallTranscript, HotlineError, MetadataError, TranscriptFormatError
from pipeline.cli.common import (
    EXIT_PARTIAL,
    OutputFormat,
    TicketFormat,
    emit,
    err,
    fail,
    load_engines,
    load_extractor,
    write_output,
)

logger = logging.getLogger(__name__)

LOADING = "loading models…"
STAGES = {
    "decode": "decoding",
    "vad": "finding speech",
    "transcribe": "transcribing channel",
    "diarize": "telling speakers apart",
    "repair": "repairing place and unit names",
    "roles": "finding the operator",
    "extract": "pre-filling the ticket",
}
"""What `run_pipeline`'s stages are doing, for the status line."""

AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".amr", ".wma", ".au", ".gsm"}


def process(
    audio: Annotated[Path, typer.Argument(help="a recording, or a folder of recordings")],
    meta: Annotated[Path | None, typer.Option(help="telephony metadata JSON (default: <audio>.meta.json)")] = None,
    model: Annotated[str | None, typer.Option(help="Whisper model name or CTranslate2 directory")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="output format")] = OutputFormat.json,
    out: Annotated[
        Path | None,
        typer.Option(help="output file (default stdout); for a folder of recordings, a folder (default ./transcripts)"),
    ] = None,
) -> None:
    """Transcribe a call (or every call in a folder) with operator/caller turns."""
    from pipeline.formats import render
    from pipeline.meta import load_meta
    from pipeline.run import run_pipeline

    if not audio.exists():
        fail(AudioDecodeError(f"no such file or folder: {audio}"))

    if audio.is_dir():
        if meta is not None:
            fail(MetadataError("--meta applies to one recording; in a folder put <name>.meta.json beside each"))
        with err.status(LOADING, spinner="dots"):
            engines, options = load_engines(model)
        _process_folder(audio, out or Path("transcripts"), fmt.value, engines, options)
        return

    try:
        call_meta = load_meta(meta, audio)
        # On a terminal, a status line from the first moment: loading the models and a minute of audio take
        # tens of seconds on a CPU, which looked like a hang. Elsewhere (a pipe, a file) stderr stays for errors.
        with err.status(LOADING, spinner="dots") as status:
            engines, options = load_engines(model)

            def hook(stage: str, completed: int | None = None, total: int | None = None) -> None:
                doing = STAGES.get(stage, stage) + (f" {completed + 1}/{total}" if total else "")
                status.update(f"{audio.name}: {doing}…")

            transcript = run_pipeline(audio, call_meta, engines, options, hook=hook)
    except HotlineError as error:
        fail(error, audio.name)
    emit(render(transcript, fmt.value), out)


def _process_folder(folder: Path, out_dir: Path, fmt: str, engines, options) -> None:
    from pipeline.formats import render
    from pipeline.meta import load_meta
    from pipeline.run import run_pipeline

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        fail(AudioDecodeError(f"no audio files in {folder}"))
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, str, float, float, int]] = []
    failures = 0
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        task = progress.add_task("transcribing", total=len(files))
        for path in files:
            progress.update(task, description=path.name)
            try:
                transcript = run_pipeline(path, load_meta(None, path), engines, options)
            except HotlineError as error:
                failures += 1
                results.append((path.name, f"error: {error}", 0.0, 0.0, 0))
            except Exception as error:  # a bug met on one recording must not lose the others' transcripts
                logger.exception("internal error on %s", path.name)
                failures += 1
                results.append((path.name, f"internal error: {type(error).__name__}", 0.0, 0.0, 0))
            else:
                write_output(out_dir / f"{path.stem}.{_suffix(fmt)}", render(transcript, fmt))
                results.append(
                    (path.name, "ok", transcript.duration, transcript.timings["total"], len(transcript.turns))
                )
            progress.advance(task)

    table = Table(title=f"{len(files)} recordings → {out_dir}")
    for column in ("file", "status", "audio s", "wall s", "turns"):
        table.add_column(column)
    for name, status, duration, wall, turns in results:
        table.add_row(name, status, f"{duration:.1f}", f"{wall:.1f}", str(turns))
    err.print(table)
    audio_total = sum(r[2] for r in results)
    wall_total = sum(r[3] for r in results)
    if wall_total:
        err.print(f"{audio_total:.0f} s of audio in {wall_total:.0f} s ({audio_total / wall_total:.1f}x real time)")
    if failures:
        raise typer.Exit(EXIT_PARTIAL)


def extract(
    transcript_path: Annotated[Path, typer.Argument(metavar="TRANSCRIPT.json", help="a transcript from `process`")],
    meta: Annotated[Path | None, typer.Option(help="telephony metadata JSON (caller number, start time)")] = None,
    fmt: Annotated[TicketFormat, typer.Option("--format", help="output format")] = TicketFormat.json,
    out: Annotated[Path | None, typer.Option(help="output file")] = None,
) -> None:
    """Re-run ticket extraction only, on a transcript JSON (e.g. after changing the catalogue)."""
    import dataclasses

    from pipeline.formats import render
    from pipeline.meta import load_meta, parse_meta

    try:
        try:
            data = json.loads(transcript_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TranscriptFormatError(f"cannot read {transcript_path.name}: {error}") from None
        transcript = CallTranscript.from_dict(data)
        if meta is not None:
            call_meta = load_meta(meta, transcript_path)
        else:
            known = {key: transcript.metadata.get(key) for key in ("agent_id", "started_at", "channel_map")}
            call_meta = parse_meta(known, transcript.call_id)
        call_meta = dataclasses.replace(call_meta, call_id=transcript.call_id)
        extractor = load_extractor()
        transcript.ticket = extractor.extract(transcript, call_meta)
    except HotlineError as error:
        fail(error, transcript_path.name)
    emit(render(transcript, fmt.value), out)


def _suffix(fmt: str) -> str:
    return {"text": "txt"}.get(fmt, fmt)
