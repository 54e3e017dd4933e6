"""`hotline train routing` (the department model from a ticket history, retrained from operators' corrections),
`hotline eval routing` (its top-k, auto-dispatch share and calibration on a split) and `hotline route`
(suggestions)."""

import csv
import json
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from models import HotlineError, MetadataError
from pipeline.cli.common import err, fail, load_extractor, load_settings, pct, report_console, write_output


class Split(StrEnum):
    """How tickets are held out: per unit at random, or the latest months (train on the past)."""

    stratified = "stratified"
    temporal = "temporal"


class Calibration(StrEnum):
    isotonic = "isotonic"
    sigmoid = "sigmoid"


class Zones(StrEnum):
    """Key areas in the model (`extract.routing.zones`): none, a rule on its scores, or a feature of its char model."""

    off = "off"
    rule = "rule"
    feature = "feature"


@dataclass
class Labelled:
    """Labelled tickets: texts, units, ids and months ("2018-05"; None without a time column)."""

    texts: list[str]
    labels: list[str]
    ids: list[str]
    months: list[str] | None

    def rows(self, indices: list[int]) -> tuple[list[str], list[str]]:
        return [self.texts[i] for i in indices], [self.labels[i] for i in indices]


def read_history(
    csv_path: Path, text_column: str, label_column: str, id_column: str | None, time_column: str | None
) -> Labelled:
    """Labelled tickets of a CSV; the month of each from `time_column` (a date, or a ticket number starting with
    one). Raises ValueError with a one-line message."""
    from extract.routing import month_of, read_labelled_rows

    texts, labels, ids = read_labelled_rows(csv_path, text_column, label_column, id_column)
    months = None
    if time_column is not None:
        times = read_labelled_rows(csv_path, text_column, label_column, time_column)[2]
        months = [month_of(value) for value in times]
    return Labelled(texts, labels, ids, months)


def read_corrections(path: Path) -> Labelled:
    """Accepted tickets as `hotline export corrections` writes them (CSV) or the API's JSON lines (.jsonl): the
    text, the unit the operator sent it to, the call id and the month it was accepted. Raises ValueError."""
    from extract.routing import month_of

    try:
        content = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read corrections {path}: {error}") from error
    if Path(path).suffix in (".jsonl", ".json"):
        try:
            rows = [json.loads(line) for line in content.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise ValueError(f"{Path(path).name}: not JSON lines ({error})") from error
    else:
        rows = list(csv.DictReader(content.splitlines()))
    data = Labelled([], [], [], [])
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError(f"{Path(path).name}: a row is not an object")
        text, unit = str(row.get("text") or "").strip(), str(row.get("department") or "").strip()
        if text and unit:
            data.texts.append(text)
            data.labels.append(unit)
            data.ids.append(str(row.get("call_id") or ""))
            data.months.append(month_of(str(row.get("accepted_at") or "")))
    if not data.texts:
        raise ValueError(f"{Path(path).name}: no accepted tickets with a text and a department")
    return data


def split_rows(
    data: Labelled, split: Split, holdout: float, seed: int, test_from: str | None, forced: list[int]
) -> tuple[list[int], list[int]]:
    """Training and hold-out rows; `forced` rows are never trained on (in the hold-out of a stratified split, left
    out of a temporal one's training months)."""
    from extract.routing import stratified_split, temporal_split

    if split == Split.temporal:
        if data.months is None:
            raise ValueError("--split temporal needs --time-column")
        return temporal_split(data.months, test_from, exclude=forced)
    if holdout <= 0:
        return list(range(len(data.texts))), []
    return stratified_split(data.texts, data.labels, holdout, seed, force_test=forced)


def train_model(
    data: Labelled,
    rows: list[int],
    aliases: dict[str, str],
    split: Split,
    embeddings: bool,
    target_error: float,
    calibration: Calibration,
    seed: int,
    zones: Zones = Zones.off,
):
    """The routing model of `rows`, calibrated and with its dispatch threshold chosen on validation predictions
    inside them: the latest month (temporal) or 3 stratified folds. With zones, the catalogue's key areas, and the
    places of the lexicon (roads, communities, villages, landmarks) that the training tickets show a zone's unit
    handling."""
    from extract.routing import RoutingModel, RoutingOptions, validation_folds
    from extract.routing.zones import PlaceTerms, ZoneTable

    texts, labels = data.rows(rows)
    months = [data.months[i] for i in rows] if split == Split.temporal and data.months is not None else None
    folds = validation_folds([aliases.get(label, label) for label in labels], months, seed=seed)
    options = replace(RoutingOptions(), use_embeddings=embeddings, zones=zones.value)
    table = places = None
    if zones != Zones.off:
        resources = load_extractor().resources
        table = ZoneTable.from_catalogue(resources.catalogue)
        if resources.lexicon is not None:
            places = PlaceTerms(
                entry.term for entry in resources.lexicon.of_kind("road", "community", "village", "place")
            )
    return RoutingModel.train_calibrated(
        texts,
        labels,
        folds,
        options,
        aliases,
        target_error=target_error,
        method=calibration.value,
        zones=table,
        zone_places=places,
    )


def print_report(title: str, reports: dict[str, dict]) -> None:
    """One column per model: top-1/top-3, the auto-dispatch share at the target error and its threshold, what the
    model's own threshold gives, calibration error."""
    table = Table(title=title)
    table.add_column("")
    for name in reports:
        table.add_column(name, justify="right")
    target = next(iter(reports.values()))["auto_dispatch"]["target_error"]

    def threshold(value):
        return "-" if value is None else f"{value:.3f}"

    lines = {
        "tickets": lambda r: str(r["n"]),
        "top-1": lambda r: pct(r["top1"]),
        "top-3": lambda r: pct(r["top3"]),
        f"auto-dispatch share at ≤{target:.2%} error": lambda r: pct(r["auto_dispatch"]["share"]),
        "  its threshold (best for these tickets)": lambda r: threshold(r["auto_dispatch"]["threshold"]),
        "model's threshold (chosen on validation)": lambda r: threshold(r["at_model_threshold"]["threshold"]),
        "  share / error it gives here": lambda r: (
            f"{pct(r['at_model_threshold']['share'])} / {pct(r['at_model_threshold']['error'])}"
        ),
        "ECE calibrated / raw": lambda r: f"{r['calibration']['ece']:.3f} / {r['calibration']['ece_raw']:.3f}",
    }
    for label, cell in lines.items():
        table.add_row(label, *(cell(report) for report in reports.values()))
    report_console().print(table)


def _target_error(option: float | None) -> float:
    return option if option is not None else load_settings().extract.dispatch_target_error


def _forced_rows(data: Labelled, test_ids: Path | None, id_column: str | None) -> list[int]:
    if test_ids is None:
        return []
    if id_column is None:
        raise ValueError("--test-ids needs --id-column")
    wanted = set(test_ids.read_text(encoding="utf-8").split())
    return [index for index, ticket_id in enumerate(data.ids) if ticket_id in wanted]


SplitOption = Annotated[Split, typer.Option(help="hold-out: stratified per unit, or temporal (the latest months)")]
HoldoutOption = Annotated[
    float, typer.Option(min=0.0, max=0.9, help="stratified: share held out per unit to measure; 0 = none")
]
TimeColumnOption = Annotated[
    str | None, typer.Option(help="column with the ticket's date, or a ticket number starting with it (temporal)")
]
TestFromOption = Annotated[
    str | None, typer.Option(help="temporal: the first held-out month, e.g. 2018-05 (default: the latest month)")
]
TargetOption = Annotated[
    float | None,
    typer.Option(
        min=0.0001,
        max=0.9999,
        help="error rate the auto-dispatch threshold keeps to (default HOTLINE_EXTRACT__DISPATCH_TARGET_ERROR, 0.0413)",
    ),
]
CalibrationOption = Annotated[Calibration, typer.Option(help="calibration of the model's top-1 score")]
ZonesOption = Annotated[
    Zones,
    typer.Option(
        help="key areas of the duty catalogue (and the lexicon's places the training tickets show their units "
        "handling): a rule on the model's scores or a feature of its char model; off by default (docs/BENCHMARKS.md)"
    ),
]


def train_routing(
    csv_path: Annotated[Path, typer.Option("--csv", help="past tickets, UTF-8 CSV with a header row")],
    text_column: Annotated[str, typer.Option(help="column with the ticket text")],
    label_column: Annotated[str, typer.Option(help="column with the handling unit (处置单位)")],
    out: Annotated[Path, typer.Option(help="folder to write the model to")],
    holdout: HoldoutOption = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the hold-out split")] = 0,
    id_column: Annotated[str | None, typer.Option(help="ticket id column (for --test-ids)")] = None,
    test_ids: Annotated[
        Path | None, typer.Option(help="file of ticket ids (one per line) that must be in the hold-out")
    ] = None,
    embeddings: Annotated[bool, typer.Option(help="add the multilingual-e5 embedding model")] = True,
    split: SplitOption = Split.stratified,
    time_column: TimeColumnOption = None,
    test_from: TestFromOption = None,
    target_error: TargetOption = None,
    calibration: CalibrationOption = Calibration.sigmoid,
    from_corrections: Annotated[
        Path | None,
        typer.Option(
            help="accepted tickets from `hotline export corrections` (CSV, or JSON lines): added to the history; "
            "the newest --holdout share of them is the hold-out on which the new model must be no worse than the "
            "one in --out (auto-dispatch share and top-1 no lower) to replace it"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="with --from-corrections: replace the model in --out in any case")
    ] = False,
    zones: ZonesOption = Zones.off,
) -> None:
    """Train the department routing model, calibrated, with its auto-dispatch threshold; with a hold-out, report
    top-1/top-3, the auto-dispatch share and calibration on it.

    Routing instructions the operator wrote after dispatch ("请市住建核实处理") are stripped before training
    and evaluation. Unit names are mapped to the duty catalogue's names (aliases, renamed units).
    The model's top-1 score is calibrated on validation predictions inside the training part (3 stratified folds,
    or with --split temporal the latest training month, predicted by a model of the months before), and the
    threshold at which the validation tickets are routed with at most the target error is stored with the model:
    extraction marks a suggestion at or above it as auto-dispatchable.
    With a hold-out the saved model is the one trained without it, so it can be evaluated honestly.
    """
    from extract.routing import RoutingModel, evaluate_routing

    target = _target_error(target_error)
    try:
        data = read_history(csv_path, text_column, label_column, id_column, time_column)
        forced = _forced_rows(data, test_ids, id_column)
        corrections = read_corrections(from_corrections) if from_corrections is not None else None
        if corrections is None:
            train_rows, test_rows = split_rows(data, split, holdout, seed, test_from, forced)
        else:
            train_rows, test_rows = _with_corrections(data, corrections, holdout, forced)
    except (ValueError, OSError) as error:
        fail(MetadataError(str(error)))
    catalogue = load_extractor().resources.catalogue
    aliases = {label: catalogue.canonical(label) for label in set(data.labels)}
    current = None
    if corrections is not None and (out / "manifest.json").exists():
        try:
            current = RoutingModel.load(out)
        except HotlineError as error:
            if not force:
                fail(type(error)(f"{error} (the model in --out is compared with the new one; --force replaces it)"))
            err.print(f"the current model does not load ({error}): replaced (--force)", markup=False, highlight=False)
    with err.status("training", spinner="dots"):
        model = train_model(data, train_rows, aliases, split, embeddings, target, calibration, seed, zones)
        reports = {}
        if test_rows:
            test_texts, test_labels = data.rows(test_rows)
            reports["new model"] = evaluate_routing(
                model, test_texts, test_labels, label_aliases=aliases, target_error=target
            )
            if current is not None:
                reports["current model"] = evaluate_routing(
                    current, test_texts, test_labels, label_aliases=aliases, target_error=target
                )
    err.print(f"trained on {len(train_rows)} tickets, {len(model.labels)} units", highlight=False)
    if reports:
        print_report(f"hold-out ({reports['new model']['n']} tickets, routing instructions stripped)", reports)
    if current is not None and "current model" in reports and not force:
        new, old = reports["new model"], reports["current model"]
        if new["auto_dispatch"]["share"] < old["auto_dispatch"]["share"] or new["top1"] < old["top1"]:
            err.print(f"kept the current model in {out}: the new one is worse on the hold-out (--force replaces it)")
            return
    model.save(out)
    err.print(f"→ {out} (auto-dispatch threshold {model.dispatch_threshold})", highlight=False)
    if reports:
        document = {"split": split.value, "holdout": holdout, "seed": seed, **reports["new model"]}
        if "current model" in reports:
            document["replaced"] = {
                key: reports["current model"][key] for key in ("n", "top1", "top3", "auto_dispatch")
            }
        write_output(out / "evaluation.json", json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _with_corrections(
    data: Labelled, corrections: Labelled, holdout: float, forced: list[int]
) -> tuple[list[int], list[int]]:
    """Append the corrections to `data`; the hold-out is the newest `holdout` share of them (at least one), which
    neither the current model nor the new one has trained on; the rest and the history (less `forced`) train."""
    offset = len(data.texts)
    months = data.months if data.months is not None else [""] * offset
    data.texts += corrections.texts
    data.labels += corrections.labels
    data.ids += corrections.ids
    data.months = months + corrections.months
    newest_first = sorted(range(len(corrections.texts)), key=lambda i: corrections.months[i], reverse=True)
    count = max(1, round(holdout * len(newest_first))) if holdout > 0 else 0
    test = sorted(offset + i for i in newest_first[:count])
    excluded = set(forced) | set(test)
    return [i for i in range(len(data.texts)) if i not in excluded], test


def eval_routing(
    csv_path: Annotated[Path, typer.Option("--csv", help="labelled tickets, UTF-8 CSV with a header row")],
    text_column: Annotated[str, typer.Option(help="column with the ticket text")],
    label_column: Annotated[str, typer.Option(help="column with the handling unit (处置单位)")],
    model: Annotated[
        Path | None, typer.Option(help="score this trained model on the hold-out instead of training one")
    ] = None,
    split: SplitOption = Split.stratified,
    holdout: HoldoutOption = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the hold-out split and the calibration folds")] = 0,
    id_column: Annotated[str | None, typer.Option(help="ticket id column (for --test-ids)")] = None,
    test_ids: Annotated[Path | None, typer.Option(help="file of ticket ids that must be held out")] = None,
    time_column: TimeColumnOption = None,
    test_from: TestFromOption = None,
    embeddings: Annotated[bool, typer.Option(help="add the multilingual-e5 embedding model")] = True,
    target_error: TargetOption = None,
    calibration: CalibrationOption = Calibration.sigmoid,
    zones: ZonesOption = Zones.off,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report as JSON")] = None,
) -> None:
    """Routing on a hold-out: top-1/top-3, the share auto-dispatched at the target error with its threshold, the
    error the model's own threshold (chosen on validation) gives there, and calibration (ECE, reliability bins in
    the JSON). Trains on the split's training part as `train routing` does, or scores --model."""
    from extract.routing import RoutingModel, evaluate_routing

    target = _target_error(target_error)
    try:
        data = read_history(csv_path, text_column, label_column, id_column, time_column)
        train_rows, test_rows = split_rows(
            data, split, holdout, seed, test_from, _forced_rows(data, test_ids, id_column)
        )
    except (ValueError, OSError) as error:
        fail(MetadataError(str(error)))
    if not test_rows:
        fail(MetadataError("nothing held out: give --holdout above 0 or --split temporal"))
    catalogue = load_extractor().resources.catalogue
    aliases = {label: catalogue.canonical(label) for label in set(data.labels)}
    with err.status("training" if model is None else "scoring", spinner="dots"):
        if model is None:
            routing = train_model(data, train_rows, aliases, split, embeddings, target, calibration, seed, zones)
        else:
            try:
                routing = RoutingModel.load(model)
            except HotlineError as error:
                fail(error)
        test_texts, test_labels = data.rows(test_rows)
        report = evaluate_routing(routing, test_texts, test_labels, label_aliases=aliases, target_error=target)
    split_name = f"{split.value}" + (
        f" from {test_from or max(data.months[i] for i in test_rows)}" if split == Split.temporal else ""
    )
    print_report(f"routing, {split_name} hold-out ({len(train_rows)} train / {len(test_rows)} test)", {"model": report})
    if json_out:
        document = {
            "split": split.value,
            "holdout": holdout if split == Split.stratified else None,
            "test_from": test_from,
            "n_train": len(train_rows),
            "model_dispatch": routing.dispatch,
            **report,
        }
        write_output(json_out, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        err.print(f"wrote {json_out}", highlight=False)


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
