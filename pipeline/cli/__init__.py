"""`hotline` command line: the whole pipeline in-process, on the embedded defaults.

The commands live one group to a module: `process` (process, extract), `enroll`, `routing` (train routing,
eval routing, route), `evaluate` (eval asr, eval tickets), `lexicon` (lexicon build), `report` (report
weekly|monthly), and the service's (serve, worker, beat, sweep, db, keys, export, live-worker, live-push) in
`pipeline.service.cli`; `common` holds what they share. This module builds the app.

Exit codes: 0 success; 2 usage error; 3 bad input (audio or metadata); 4 no speech in the
recording; 5 a model or backend cannot be loaded; 6 some files of a folder failed.
Errors print one line on stderr and never contain phone or ID numbers.
"""

import logging
import os
import sys
from typing import Annotated

import typer

from pipeline import logmask
from pipeline.cli import enroll, evaluate, lexicon, process, report, routing
from pipeline.cli.common import load_settings
from pipeline.service.cli import register as register_service_commands

__all__ = ["app", "main"]

# Offline by default: nothing phones home (pyannote telemetry, Hugging Face update checks).
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

app = typer.Typer(
    help="12345 hotline call intake: a call recording in, a transcript with speakers and a pre-filled ticket "
    "(工单) out. `process` runs one call (or a folder) here; `serve` runs the service: the HTTP API, the "
    "operator and QA pages, and the jobs (with `worker` and `beat` over Redis when it scales out).",
    no_args_is_help=True,
)
eval_app = typer.Typer(help="Measure the pipeline against gold annotations.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
train_app = typer.Typer(help="Train models from a deployment's own history.", no_args_is_help=True)
app.add_typer(train_app, name="train")
lexicon_app = typer.Typer(help="The hotline lexicon: the deployment's places, units and words.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress to stderr")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logmask.install()


# Listed in `hotline --help` in this order: commands, then the groups.
app.command()(process.process)
app.command()(process.extract)
app.command()(enroll.enroll)
app.command()(routing.route)
app.command()(report.report)
eval_app.command("asr")(evaluate.eval_asr)
eval_app.command("tickets")(evaluate.eval_tickets)
eval_app.command("routing")(routing.eval_routing)
train_app.command("routing")(routing.train_routing)
lexicon_app.command("build")(lexicon.lexicon_build)
register_service_commands(app, load_settings)
