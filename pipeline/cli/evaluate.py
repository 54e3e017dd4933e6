"""`hotline eval asr` and `hotline eval tickets`: the pipeline measured against gold annotations."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from models import REVIEW_LEVELS, CallTranscript, MetadataError, TranscriptFormatError
from pipeline.cli.common import err, fail, load_engines, load_extractor, pct, report_console, write_output


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
    engines, options = load_engines(model)
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
                pct(score.cer),
                pct(score.der_collar),
                pct(score.role_accuracy),
                f"{score.untranscribed_s:.1f}",
                f"{score.duration / score.wall_seconds:.2f}" if score.wall_seconds else "–",
            )
    report_console().print(calls_table)
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
            pct(row["cer"]),
            pct(row["der"]),
            pct(row["der_collar"]),
            pct(row["role_accuracy"]),
            f"{row['both_roles']}/{row['calls']}",
            str(row["hallucinated_chars"]),
            f"{row['untranscribed_s']:.1f}",
            f"{row['speed_x_realtime']}",
        )
    report_console().print(table)
    for score in report.calls:
        if score.error:
            err.print(f"{score.call_id}: {score.error}", markup=False, highlight=False)
    if json_out:
        write_output(json_out, json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        err.print(f"wrote {json_out}", highlight=False)


def eval_tickets(
    folder: Annotated[Path, typer.Argument(help="folder of gold <call_id>.json files with turns and fields")],
    transcripts: Annotated[
        Path | None,
        typer.Option(
            help="folder of our transcripts (JSON from `process`, matched to the gold by call_id) to score too"
        ),
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
        # `process` names its files after the recordings; the transcript inside says which call it is
        wanted = {gold.call_id for gold in golds}
        for path in sorted(transcripts.glob("*.json")) if transcripts.is_dir() else []:
            try:
                transcript = CallTranscript.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, TranscriptFormatError) as error:
                fail(TranscriptFormatError(f"{path.name}: {error}"))
            call_id = transcript.call_id if transcript.call_id in wanted else path.stem
            if call_id in wanted:
                asr[call_id] = transcript
        if not asr:
            fail(MetadataError(f"no transcripts of the gold calls (by call_id or file name) in {transcripts}"))
    extractor = load_extractor()
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
        table.add_row(label, *(pct(row.get(name)) for row in summaries))
    table.add_row(
        "review " + "/".join(REVIEW_LEVELS),
        *("/".join(str(row["review"][level]) for level in REVIEW_LEVELS) for row in summaries),
    )
    report_console().print(table)
    if json_out:
        write_output(json_out, json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        err.print(f"wrote {json_out}", highlight=False)
