"""What the command modules share: the error console, exit codes, output formats, loading settings and engines."""

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from models import (
    AudioDecodeError,
    AudioTooLongError,
    DiarizationError,
    HotlineError,
    MetadataError,
    ModelLoadError,
    NoSpeechError,
    TranscriptFormatError,
)
from models.files import write_atomic

err = Console(stderr=True)

REPORT_WIDTH = 160
"""Columns for a report written to a file or a pipe: rich would use 80 and cut the tables' headers."""


def report_console() -> Console:
    """stdout for reports (tables): the terminal's width, or `REPORT_WIDTH` when it is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=REPORT_WIDTH)


EXIT_BAD_INPUT, EXIT_NO_SPEECH, EXIT_MODEL, EXIT_PARTIAL = 3, 4, 5, 6


class OutputFormat(StrEnum):
    json = "json"
    text = "text"
    srt = "srt"
    vtt = "vtt"
    rttm = "rttm"


class TicketFormat(StrEnum):
    """What `hotline extract` writes: the ticket has no times to put in subtitles or RTTM."""

    json = "json"
    text = "text"


def exit_code(error: HotlineError) -> int:
    if isinstance(error, NoSpeechError):
        return EXIT_NO_SPEECH
    if isinstance(error, (ModelLoadError, DiarizationError)):
        return EXIT_MODEL
    if isinstance(error, (AudioDecodeError, AudioTooLongError, MetadataError, TranscriptFormatError)):
        return EXIT_BAD_INPUT
    return 1


def fail(error: HotlineError, name: str = "") -> None:
    prefix = f"{name}: " if name else ""
    # plain write: rich would wrap a long message onto several lines
    sys.stderr.write(f"error: {prefix}{error}\n")
    raise typer.Exit(exit_code(error))


def load_settings():
    """Settings from the environment; a bad setting exits with 2."""
    from pydantic import ValidationError

    from pipeline.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        sys.stderr.write(
            f"error: invalid setting HOTLINE_{'__'.join(map(str, first['loc'])).upper()}: {first['msg']}\n"
        )
        raise typer.Exit(2) from None


def load_engines(model: str | None):
    """Settings from the environment and the engines they describe; a bad setting exits with 2."""
    from pipeline.factory import build_engines, pipeline_options

    settings = load_settings()
    try:
        return build_engines(settings, model), pipeline_options(settings)
    except HotlineError as error:
        fail(error)


def load_extractor():
    from pipeline.factory import build_extractor

    try:
        return build_extractor(load_settings())
    except HotlineError as error:
        fail(error)


def emit(document: str, out: Path | None) -> None:
    """To stdout, or atomically to `out`."""
    if out is None:
        sys.stdout.write(document)
    else:
        write_output(out, document)
        err.print(f"wrote {out}", highlight=False)


def write_output(path: Path, text: str) -> None:
    """Write to a temporary name and rename, so no half-written output file is ever seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
