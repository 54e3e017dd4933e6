"""`hotline lexicon build`: the deployment's hotline lexicon (docs/LEXICON.md)."""

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from models import MetadataError
from pipeline.cli.common import err, fail, load_extractor, load_settings


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

    settings = load_settings()
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
        catalogue = load_extractor().resources.catalogue
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
