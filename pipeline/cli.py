"""`hotline` command line: the whole pipeline in-process, on the embedded defaults.

Exit codes: 0 success; 2 usage error; 3 bad input (audio or metadata); 4 no speech in the
recording; 5 a model or backend cannot be loaded; 6 some files of a folder failed.
Errors print one line on stderr and never contain phone or ID numbers.
"""

import json
import logging
import os
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from models import (
    REVIEW_LEVELS,
    AudioDecodeError,
    AudioTooLongError,
    CallTranscript,
    DiarizationError,
    HotlineError,
    MetadataError,
    ModelLoadError,
    NoSpeechError,
    TranscriptFormatError,
)
from models.files import write_atomic
from pipeline import logmask

# Offline by default: nothing phones home (pyannote telemetry, Hugging Face update checks).
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

app = typer.Typer(
    help="12345 hotline call intake: transcript with speakers from a call recording.", no_args_is_help=True
)
eval_app = typer.Typer(help="Measure the pipeline against gold annotations.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
train_app = typer.Typer(help="Train models from a deployment's own history.", no_args_is_help=True)
app.add_typer(train_app, name="train")
lexicon_app = typer.Typer(help="The hotline lexicon: the deployment's places, units and words.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")
err = Console(stderr=True)

AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".amr", ".wma", ".au", ".gsm"}
EXIT_BAD_INPUT, EXIT_NO_SPEECH, EXIT_MODEL, EXIT_PARTIAL = 3, 4, 5, 6


class OutputFormat(StrEnum):
    json = "json"
    text = "text"
    srt = "srt"
    vtt = "vtt"
    rttm = "rttm"


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


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress to stderr")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logmask.install()


@app.command()
def process(
    audio: Annotated[Path, typer.Argument(help="a recording, or a folder of recordings")],
    meta: Annotated[Path | None, typer.Option(help="telephony metadata JSON (default: <audio>.meta.json)")] = None,
    model: Annotated[str | None, typer.Option(help="Whisper model name or CTranslate2 directory")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="output format")] = OutputFormat.json,
    out: Annotated[Path | None, typer.Option(help="output file (a folder when AUDIO is a folder)")] = None,
) -> None:
    """Transcribe a call (or every call in a folder) with operator/caller turns."""
    from pipeline.formats import render
    from pipeline.meta import load_meta
    from pipeline.run import run_pipeline

    if not audio.exists():
        fail(AudioDecodeError(f"no such file or folder: {audio}"))
    engines, options = _load_engines(model)

    if audio.is_dir():
        if meta is not None:
            fail(MetadataError("--meta applies to one recording; in a folder put <name>.meta.json beside each"))
        _process_folder(audio, out or Path("transcripts"), fmt.value, engines, options)
        return

    try:
        call_meta = load_meta(meta, audio)
        with err.status("decode", spinner="dots") as status:

            def hook(stage: str, completed: int | None = None, total: int | None = None) -> None:
                status.update(f"{stage} {completed + 1}/{total}" if total else stage)

            transcript = run_pipeline(audio, call_meta, engines, options, hook=hook)
    except HotlineError as error:
        fail(error, audio.name)
    _emit(render(transcript, fmt.value), out)


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
            else:
                _write_atomic(out_dir / f"{path.stem}.{_suffix(fmt)}", render(transcript, fmt))
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


@app.command()
def extract(
    transcript_path: Annotated[Path, typer.Argument(metavar="TRANSCRIPT.json", help="a transcript from `process`")],
    meta: Annotated[Path | None, typer.Option(help="telephony metadata JSON (caller number, start time)")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="output format (json or text)")] = OutputFormat.json,
    out: Annotated[Path | None, typer.Option(help="output file")] = None,
) -> None:
    """Re-run ticket extraction only, on a transcript JSON (e.g. after changing the catalogue)."""
    import dataclasses

    from pipeline.formats import render
    from pipeline.meta import load_meta, parse_meta

    if fmt not in (OutputFormat.json, OutputFormat.text):
        fail(MetadataError("extract writes json or text"))
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
        extractor = _load_extractor()
        transcript.ticket = extractor.extract(transcript, call_meta)
    except HotlineError as error:
        fail(error, transcript_path.name)
    _emit(render(transcript, fmt.value), out)


@app.command()
def enroll(
    agent_id: Annotated[str, typer.Argument(help="the operator's agent id, as the telephony system sends it")],
    audio: Annotated[list[Path], typer.Argument(help="recordings of this operator alone (or stereo calls)")],
    channel: Annotated[int | None, typer.Option(help="use this channel of stereo recordings (the operator's)")] = None,
) -> None:
    """Enroll an operator's voiceprint, used to tell the operator from the caller on mono calls."""
    import numpy as np

    from asr.audio import load_audio
    from asr.diarize.embedding import ResemblyzerEncoder
    from asr.vad import WebrtcSpeechDetector
    from asr.voiceprints import VoiceprintStore
    from pipeline.settings import Settings

    settings = Settings()
    encoder = ResemblyzerEncoder()
    detector = WebrtcSpeechDetector()
    vectors = []
    try:
        store = VoiceprintStore(settings.voiceprint_dir)
        store.load(agent_id)  # validates the id before any work
        for path in audio:
            recording = load_audio(path)
            index = channel if channel is not None else 0
            if index >= len(recording.channels):
                raise AudioDecodeError(f"{path.name} has no channel {index}")
            samples = recording.channels[index] if channel is not None else recording.mono()
            spans = [s for s in detector.detect(recording) if channel is None or s.channel == index]
            rate = recording.sample_rate
            speech = [samples[int(s.start * rate) : int(s.end * rate)] for s in spans]
            if not speech:
                raise NoSpeechError(f"no speech in {path.name}")
            vectors.append(encoder.embed(np.concatenate(speech)))
        mean = np.mean(vectors, axis=0)
        saved = store.save(agent_id, mean / np.linalg.norm(mean), [p.name for p in audio])
    except HotlineError as error:
        fail(error)
    err.print(f"enrolled agent {agent_id} from {len(vectors)} recording(s): {saved}", highlight=False)


@eval_app.command("asr")
def eval_asr(
    folder: Annotated[Path, typer.Argument(help="folder of recordings with gold <call_id>.json files")],
    model: Annotated[str | None, typer.Option(help="Whisper model name or CTranslate2 directory")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report as JSON")] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N calls")] = None,
) -> None:
    """CER, DER (with and without collar), role accuracy and speed over gold calls."""
    from pipeline.evaluation import evaluate, load_gold
    from pipeline.run import run_pipeline

    calls = load_gold(folder)[:limit] if folder.is_dir() else []
    if not calls:
        fail(MetadataError(f"no gold call files (*.json with audio_files and turns) in {folder}"))
    engines, options = _load_engines(model)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err) as progress:
        task = progress.add_task("evaluating", total=len(calls))

        def advance(gold) -> None:
            progress.update(task, description=gold.call_id, completed=calls.index(gold))

        report = evaluate(calls, lambda gold: run_pipeline(gold.audio, gold.meta, engines, options), advance)
        progress.update(task, completed=len(calls))

    calls_table = Table(title="Per call (speech without words: VAD speech no recognised word covers)")
    for column in ("call", "layout", "CER", "DER collar", "role acc", "speech without words s", "x RT"):
        calls_table.add_column(column, justify="right")
    for score in report.calls:
        if score.error is None:
            calls_table.add_row(
                score.call_id,
                score.layout,
                _pct(score.cer),
                _pct(score.der_collar),
                _pct(score.role_accuracy),
                f"{score.untranscribed_s:.1f}",
                f"{score.duration / score.wall_seconds:.2f}" if score.wall_seconds else "–",
            )
    Console().print(calls_table)
    table = Table(title=f"ASR evaluation: {folder} ({engines.transcriber.model_name})")
    for column in (
        "set",
        "calls",
        "failed",
        "CER",
        "DER",
        "DER collar",
        "role acc",
        "both roles",
        "halluc. chars",
        "speech without words s",
        "x RT",
    ):
        table.add_column(column, justify="right")
    for name, row in report.summary.items():
        table.add_row(
            name,
            str(row["calls"]),
            str(row["failed"]),
            _pct(row["cer"]),
            _pct(row["der"]),
            _pct(row["der_collar"]),
            _pct(row["role_accuracy"]),
            f"{row['both_roles']}/{row['calls']}",
            str(row["hallucinated_chars"]),
            f"{row['untranscribed_s']:.1f}",
            f"{row['speed_x_realtime']}",
        )
    Console().print(table)
    for score in report.calls:
        if score.error:
            err.print(f"{score.call_id}: {score.error}", markup=False, highlight=False)
    if json_out:
        _write_atomic(json_out, json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        err.print(f"wrote {json_out}", highlight=False)


def _load_engines(model: str | None):
    """Settings from the environment and the engines they describe; a bad setting exits with 2."""
    from pipeline.factory import build_engines, pipeline_options

    settings = _load_settings()
    try:
        return build_engines(settings, model), pipeline_options(settings)
    except HotlineError as error:
        fail(error)


@train_app.command("routing")
def train_routing(
    csv_path: Annotated[Path, typer.Option("--csv", help="past tickets, UTF-8 CSV with a header row")],
    text_column: Annotated[str, typer.Option(help="column with the ticket text")],
    label_column: Annotated[str, typer.Option(help="column with the handling unit (处置单位)")],
    out: Annotated[Path, typer.Option(help="folder to write the model to")],
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="share held out per unit to measure; 0 = none")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the hold-out split")] = 0,
    id_column: Annotated[str | None, typer.Option(help="ticket id column (for --test-ids)")] = None,
    test_ids: Annotated[
        Path | None, typer.Option(help="file of ticket ids (one per line) that must be in the hold-out")
    ] = None,
    embeddings: Annotated[bool, typer.Option(help="add the multilingual-e5 embedding model")] = True,
) -> None:
    """Train the department routing model; with --holdout, report top-1/top-3 on held-out tickets.

    Routing instructions the operator wrote after dispatch ("请市住建核实处理") are stripped before training
    and evaluation. Unit names are mapped to the duty catalogue's names (aliases, renamed units).
    With a hold-out the saved model is the one trained without it, so it can be evaluated honestly.
    """
    import dataclasses

    from extract.routing import RoutingModel, RoutingOptions, evaluate_routing, read_labelled_rows, stratified_split

    try:
        if test_ids is not None and id_column is None:
            raise ValueError("--test-ids needs --id-column")
        texts, labels, ids = read_labelled_rows(csv_path, text_column, label_column, id_column)
        forced: list[int] = []
        if test_ids is not None:
            wanted = set(test_ids.read_text(encoding="utf-8").split())
            forced = [index for index, ticket_id in enumerate(ids) if ticket_id in wanted]
    except (ValueError, OSError) as error:
        fail(MetadataError(str(error)))
    catalogue = _load_extractor().resources.catalogue
    aliases = {label: catalogue.canonical(label) for label in set(labels)}
    options = dataclasses.replace(RoutingOptions(), use_embeddings=embeddings)
    train_rows = list(range(len(texts)))
    report = None
    with err.status("training", spinner="dots"):
        if holdout > 0:
            train_rows, test_rows = stratified_split(texts, labels, holdout, seed, force_test=forced)
        model = RoutingModel.train([texts[i] for i in train_rows], [labels[i] for i in train_rows], options, aliases)
        if holdout > 0:
            report = evaluate_routing(
                model, [texts[i] for i in test_rows], [labels[i] for i in test_rows], label_aliases=aliases
            )
        model.save(out)
    err.print(f"trained on {len(train_rows)} tickets, {len(model.labels)} units → {out}", highlight=False)
    if report is not None:
        (out / "evaluation.json").write_text(
            json.dumps({"holdout": holdout, "seed": seed, **report}, ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8",
        )
        Console().print(
            f"hold-out ({report['n']} tickets, routing instructions stripped): "
            f"top-1 {report['top1']:.1%}  top-3 {report['top3']:.1%}"
        )


@lexicon_app.command("build")
def lexicon_build(
    out: Annotated[Path, typer.Option(help="lexicon file to write (TSV, docs/LEXICON.md)")],
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="past tickets to mine place names from (UTF-8 CSV with a header row)")
    ] = None,
    text_column: Annotated[str, typer.Option(help="column with the ticket text")] = "诉求内容",
    city: Annotated[str | None, typer.Option(help="the hotline's city (default: HOTLINE_EXTRACT__CITY)")] = None,
    province: Annotated[str | None, typer.Option(help="its province (default: HOTLINE_EXTRACT__PROVINCE)")] = None,
    id_column: Annotated[str | None, typer.Option(help="ticket id column (for --exclude-ids)")] = None,
    exclude_ids: Annotated[
        Path | None, typer.Option(help="file of ticket ids (one per line) whose texts are left out")
    ] = None,
    min_count: Annotated[int, typer.Option(min=1, help="a mined place must be named in this many tickets")] = 2,
    version: Annotated[str | None, typer.Option(help="version line of the file (default: city and date)")] = None,
) -> None:
    """Write a lexicon: the city's divisions (packaged data), the duty catalogue's units and matter keywords,
    the hotline's script, and the roads, communities, villages and places named in a ticket history."""
    import datetime

    from extract.lexicon import build_lexicon, read_ticket_texts, write_lexicon
    from extract.routing import strip_routing_instruction

    settings = _load_settings()
    city = city or settings.extract.city
    province = province or settings.extract.province
    texts: list[str] = []
    try:
        if exclude_ids is not None and id_column is None:
            raise ValueError("--exclude-ids needs --id-column")
        if csv_path is not None:
            excluded = exclude_ids.read_text(encoding="utf-8").split() if exclude_ids is not None else ()
            texts = [
                strip_routing_instruction(text)
                for text in read_ticket_texts(csv_path, text_column, id_column, excluded)
            ]
        catalogue = _load_extractor().resources.catalogue
        with err.status(f"mining {len(texts)} tickets", spinner="dots"):
            lexicon = build_lexicon(
                province,
                city,
                catalogue,
                texts,
                min_count=min_count,
                version=version or f"{city}-{datetime.date.today().isoformat()}",
            )
    except (ValueError, OSError) as error:
        fail(MetadataError(str(error)))
    write_lexicon(lexicon, out)
    counts = Counter(entry.kind for entry in lexicon.entries)
    summary = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
    typer.echo(f"{len(lexicon)} terms ({summary}) → {out}")


@app.command()
def route(
    model: Annotated[Path, typer.Option(help="a model folder from `hotline train routing`")],
    text: Annotated[str | None, typer.Option(help="one request text to route")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="CSV of texts to route")] = None,
    text_column: Annotated[str | None, typer.Option(help="column with the text (with --csv)")] = None,
    out: Annotated[Path | None, typer.Option(help="predictions CSV to write (with --csv)")] = None,
    k: Annotated[int, typer.Option(min=1, max=20, help="how many units per text")] = 3,
) -> None:
    """Suggest handling units for a text, or for every row of a CSV (top-k labels and scores)."""
    import csv

    from extract.routing import RoutingModel, write_predictions

    if (text is None) == (csv_path is None):
        fail(MetadataError("give either --text or --csv"))
    if csv_path is not None and (text_column is None or out is None):
        fail(MetadataError("--csv needs --text-column and --out"))
    try:
        routing = RoutingModel.load(model)
    except HotlineError as error:
        fail(error)
    if text is not None:
        table = Table(title="department suggestions")
        for column in ("rank", "unit", "score"):
            table.add_column(column)
        for rank, (label, score) in enumerate(routing.predict([text], k=k)[0], start=1):
            table.add_row(str(rank), label, f"{score:.3f}")
        Console().print(table)
        return
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows and text_column not in rows[0]:
            raise ValueError(f"{csv_path.name}: no column {text_column!r}")
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as error:
        fail(MetadataError(f"cannot read {csv_path.name}: {error}"))
    predictions = routing.predict([row.get(text_column) or "" for row in rows], k=k) if rows else []
    write_predictions(rows, predictions, out, text_column=text_column)
    err.print(f"routed {len(rows)} rows → {out}", highlight=False)


@eval_app.command("tickets")
def eval_tickets(
    folder: Annotated[Path, typer.Argument(help="folder of gold <call_id>.json files with turns and fields")],
    transcripts: Annotated[
        Path | None, typer.Option(help="folder of our transcripts (<call_id>.json from `process`) to score too")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report as JSON")] = None,
) -> None:
    """Per-field ticket accuracy on gold calls: from our ASR transcripts if given, and from the gold turns."""
    from pipeline.ticket_evaluation import evaluate_tickets, load_gold_tickets

    golds = load_gold_tickets(folder) if folder.is_dir() else []
    if not golds:
        fail(MetadataError(f"no gold call files (*.json with turns and fields) in {folder}"))
    asr: dict[str, CallTranscript] = {}
    if transcripts is not None:
        for gold in golds:
            path = transcripts / f"{gold.call_id}.json"
            if path.is_file():
                try:
                    asr[gold.call_id] = CallTranscript.from_dict(json.loads(path.read_text(encoding="utf-8")))
                except (json.JSONDecodeError, TranscriptFormatError) as error:
                    fail(TranscriptFormatError(f"{path.name}: {error}"))
        if not asr:
            fail(MetadataError(f"no transcripts named <call_id>.json in {transcripts}"))
    extractor = _load_extractor()
    report = evaluate_tickets(golds, extractor.extract, asr, canonical=extractor.resources.catalogue.canonical)

    table = Table(title=f"Ticket extraction: {folder}")
    table.add_column("field")
    columns = [source for source in ("asr", "gold_text") if source in report.summary]
    titles = {"asr": "our ASR", "gold_text": "gold turns"}
    for source in columns:
        table.add_column(f"{titles[source]} (n={report.summary[source]['calls']})", justify="right")
    summaries = [report.summary[source] for source in columns]
    streets = summaries[0]["street_calls"]
    for name, label in (
        ("phone", "phone (11 digits)"),
        ("caller_name", "caller_name"),
        ("caller_surname", "caller_surname"),
        ("honorific", "honorific"),
        ("district", "district"),
        ("street", f"street ({streets} calls name one)"),
        ("address", "address exact"),
        ("address_f1", "address char F1"),
        ("request_type", "request_type"),
        ("department_top1", "department top-1"),
        ("department_top3", "department top-3"),
        ("department_any", "any department"),
    ):
        table.add_row(label, *(_pct(row.get(name)) for row in summaries))
    table.add_row(
        "review " + "/".join(REVIEW_LEVELS),
        *("/".join(str(row["review"][level]) for level in REVIEW_LEVELS) for row in summaries),
    )
    Console().print(table)
    if json_out:
        _write_atomic(json_out, json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        err.print(f"wrote {json_out}", highlight=False)


def _emit(document: str, out: Path | None) -> None:
    """To stdout, or atomically to `out`."""
    if out is None:
        sys.stdout.write(document)
    else:
        _write_atomic(out, document)
        err.print(f"wrote {out}", highlight=False)


def _load_settings():
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


def _load_extractor():
    from pipeline.factory import build_extractor

    try:
        return build_extractor(_load_settings())
    except HotlineError as error:
        fail(error)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _suffix(fmt: str) -> str:
    return {"text": "txt"}.get(fmt, fmt)


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name and rename, so no half-written output file is ever seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)


from pipeline.service.cli import register as _register_service_commands  # noqa: E402

_register_service_commands(app, _load_settings)
