"""`hotline train routing` (the department model from a ticket history) and `hotline route` (suggestions)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from models import HotlineError, MetadataError
from pipeline.cli.common import err, fail, load_extractor


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
    catalogue = load_extractor().resources.catalogue
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


def route(
    model: Annotated[Path, typer.Option(help="a model folder from `hotline train routing`")],
    text: Annotated[str | None, typer.Option(help="one request text to route")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="CSV of texts to route")] = None,
    text_column: Annotated[str | None, typer.Option(help="column with the text (with --csv)")] = None,
    out: Annotated[Path | None, typer.Option(help="predictions CSV to write (with --csv)")] = None,
    k: Annotated[int, typer.Option(min=1, max=20, help="how many units per text")] = 3,
) -> None:
    """Suggest handling units for a text, or for every row of a CSV (top-k labels and scores)."""
    from extract.lexicon import read_ticket_texts
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
        texts = read_ticket_texts(csv_path, text_column)
    except ValueError as error:
        fail(MetadataError(str(error)))
    predictions = routing.predict(texts, k=k) if texts else []
    write_predictions([{text_column: text} for text in texts], predictions, out, text_column=text_column)
    err.print(f"routed {len(texts)} rows → {out}", highlight=False)
