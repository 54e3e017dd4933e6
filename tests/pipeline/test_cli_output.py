"""What the command line shows people: the app's help names what it makes and the service, a single-file
`process` says what it is doing from the first moment on a terminal, and report tables written to a file keep
their headers whole."""

import io

from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from pipeline.cli import app, process
from pipeline.cli.common import REPORT_WIDTH, report_console

runner = CliRunner()


def test_the_help_names_the_ticket_and_the_service():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "pre-filled ticket" in text and "serve" in text and "operator and QA pages" in text


def test_a_single_file_shows_a_status_while_the_models_load(tmp_path, monkeypatch):
    # a model that cannot load fails after the status line was shown: it no longer waits for the models to appear
    screen = io.StringIO()
    monkeypatch.setattr(process, "err", Console(file=screen, force_terminal=True, width=100))
    recording = tmp_path / "call.wav"
    recording.write_bytes(b"RIFF")
    result = runner.invoke(app, ["process", str(recording), "--model", str(tmp_path / "missing-model")])
    assert result.exit_code == 5
    assert process.LOADING in screen.getvalue()


def test_a_report_to_a_file_keeps_its_headers_whole():
    columns = ("call", "layout", "CER", "DER collar", "role acc", "speech without words s", "x RT")
    table = Table(title="Per call")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row("dev-0001", "stereo", "12.3%", "4.5%", "100.0%", "0.0", "3.21")
    console = report_console()  # pytest captures stdout: not a terminal, as a redirect to a file
    assert console.width == REPORT_WIDTH
    with console.capture() as captured:
        console.print(table)
    header = next(line for line in captured.get().splitlines() if "CER" in line)
    assert all(column in header for column in columns), header
