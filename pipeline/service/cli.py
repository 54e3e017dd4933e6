"""`hotline serve`, `hotline worker`, `hotline beat`, `hotline sweep`, `hotline db upgrade`, `hotline keys …` (and the
live calls' `hotline live-worker`, `hotline live-push`: `pipeline.service.live.cli`): the service's entry points,
registered on the main `hotline` app (pipeline.cli)."""

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from models.files import atomic_write
from pipeline.service.live.cli import register as register_live


def register(app: typer.Typer, load_settings) -> None:
    keys_app = typer.Typer(help="API keys and their roles (telephony, operator, qa, admin).", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")
    db_app = typer.Typer(help="The service database.", no_args_is_help=True)
    app.add_typer(db_app, name="db")
    export_app = typer.Typer(help="Data out of the service database.", no_args_is_help=True)
    app.add_typer(export_app, name="export")
    register_live(app, load_settings)
    import_app = typer.Typer(help="Data into the service database.", no_args_is_help=True)
    app.add_typer(import_app, name="import")

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        workers: Annotated[int, typer.Option(help="uvicorn worker processes (with HOTLINE_REDIS_URL only)")] = 1,
    ) -> None:
        """Run the HTTP API. Without HOTLINE_REDIS_URL calls are processed by a thread of this process.
        Slow clients are cut off (HOTLINE_SERVER__*); phone and ID numbers are masked in its logs."""
        from api.server import serve as run_server

        settings = load_settings()
        if workers > 1 and not settings.redis_url:
            sys.stderr.write("error: several API processes need HOTLINE_REDIS_URL (jobs would run in each)\n")
            raise typer.Exit(2)
        run_server(settings, host, port, workers)

    @app.command()
    def worker(
        queues: Annotated[str, typer.Option(help="comma-separated: asr (GPU boxes), extract, webhooks")] = (
            "asr,extract,webhooks"
        ),
        concurrency: Annotated[int, typer.Option(help="processes (each loads the models once)")] = 1,
        name: Annotated[str | None, typer.Option(help="Celery node name")] = None,
        beat: Annotated[
            bool,
            typer.Option(
                "--beat", help="also run Celery beat, the housekeeping schedule: on one worker of a deployment"
            ),
        ] = False,
    ) -> None:
        """Run a Celery worker over Redis. Lost jobs, due webhooks and expired recordings are seen to by Celery
        beat: `--beat` on one worker, or `hotline beat` once."""
        from pipeline.service.tasks import app as celery_app
        from pipeline.service.tasks import configure, schedule_housekeeping
        from pipeline.service.wiring import build_worker_jobs

        settings = _celery_settings(load_settings, "a worker")
        configure(settings.redis_url, settings.worker.lease_s)
        schedule_housekeeping(settings.worker.sweep_interval_s)
        _mask_numbers_in_celery_logs()
        build_worker_jobs(settings)  # fails fast: migrates the database and checks the store before the first task
        argv = ["worker", "--loglevel=INFO", f"--queues={queues}", f"--concurrency={concurrency}"]
        argv += ["--pool=solo"] if concurrency == 1 else ["--pool=prefork"]
        if name:
            argv.append(f"--hostname={name}")
        if beat:
            argv.append("--beat")
        celery_app.worker_main(argv)

    @app.command("beat")
    def beat_command() -> None:
        """Run Celery beat alone: it sends the housekeeping tasks (lost jobs, due webhooks, expired recordings)
        every HOTLINE_WORKER__SWEEP_INTERVAL_S to the workers. One per deployment."""
        from pipeline.service.tasks import app as celery_app
        from pipeline.service.tasks import configure, schedule_housekeeping

        settings = _celery_settings(load_settings, "beat")
        configure(settings.redis_url, settings.worker.lease_s)
        schedule_housekeeping(settings.worker.sweep_interval_s)
        _mask_numbers_in_celery_logs()
        celery_app.start(["beat", "--loglevel=INFO"])

    @app.command()
    def sweep() -> None:
        """Re-enqueue calls whose jobs were lost and webhook deliveries that are due (e.g. from cron)."""
        from pipeline.service.wiring import build_services

        settings = load_settings()
        services = build_services(settings)
        if services.jobs is not None:
            services.queue.stop()
            sys.stderr.write("nothing to sweep without HOTLINE_REDIS_URL: `hotline serve` sweeps its own jobs\n")
            raise typer.Exit(0)
        from pipeline.service.wiring import make_jobs

        count = make_jobs(settings, services.repository, services.store, services.queue).sweep()
        print(f"re-enqueued {count}")

    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Create or upgrade the schema to the code's revision (the service also does this at start)."""
        from pipeline.service.wiring import open_repository

        settings = load_settings()
        engine, _ = open_repository(settings)
        engine.dispose()
        print("database schema created or upgraded to the code's revision")

    @keys_app.command("create")
    def keys_create(
        role: Annotated[str, typer.Option(help="telephony | operator | qa | admin")],
        name: Annotated[str | None, typer.Option(help="who holds it (default: the role)")] = None,
        webhook_url: Annotated[str | None, typer.Option(help="telephony: where call results are POSTed")] = None,
        agent_id: Annotated[
            str | None, typer.Option(help="operator: their agent id (工号); they work on the calls taken under it")
        ] = None,
        team: Annotated[
            str | None, typer.Option(help="operator: their team (班组); they work on the team's calls too")
        ] = None,
    ) -> None:
        """Create a key. The key is printed alone on the last line (shown once; only its hash is stored)."""
        from pipeline.service.keys import ROLES, KeyStore
        from pipeline.service.webhooks import validate_webhook_url
        from pipeline.service.wiring import open_repository

        settings = load_settings()
        if role not in ROLES:
            sys.stderr.write(f"error: unknown role {role!r}; one of {', '.join(ROLES)}\n")
            raise typer.Exit(2)
        if webhook_url:
            try:
                validate_webhook_url(webhook_url, allow_private=settings.webhooks.allow_private)
            except ValueError as error:
                sys.stderr.write(f"error: {error}\n")
                raise typer.Exit(2) from None
        engine, repository = open_repository(settings)
        try:
            row, key = KeyStore(repository.sessions).create(
                role, name or role, webhook_url=webhook_url, agent_id=agent_id, team=team
            )
            key_id, secret = row.id, row.webhook_secret
        except ValueError as error:  # a name, agent id or team of the wrong length; a team on a non-operator key
            sys.stderr.write(f"error: {error}\n")
            raise typer.Exit(2) from None
        finally:
            engine.dispose()
        sys.stderr.write(f"created key {key_id} ({role})\n")
        if secret:
            sys.stderr.write(f"webhook signing secret: {secret}\n")
        print(key)

    @keys_app.command("list")
    def keys_list() -> None:
        """Keys with their role and state (never the keys themselves), one JSON object per line."""
        from pipeline.service.keys import KeyStore
        from pipeline.service.wiring import open_repository

        engine, repository = open_repository(load_settings())
        for row in KeyStore(repository.sessions).all():
            state = "revoked" if row.revoked_at else "active"
            line = {"id": row.id, "name": row.name, "role": row.role, "prefix": row.prefix, "state": state}
            if row.agent_id:
                line["agent_id"] = row.agent_id
            if row.team:
                line["team"] = row.team
            print(json.dumps(line, ensure_ascii=False))
        engine.dispose()

    @keys_app.command("revoke")
    def keys_revoke(key_id: Annotated[int, typer.Argument(help="the key's id (from `hotline keys list`)")]) -> None:
        """Revoke a key at once."""
        from pipeline.service.keys import KeyStore
        from pipeline.service.wiring import open_repository

        engine, repository = open_repository(load_settings())
        revoked = KeyStore(repository.sessions).revoke(key_id)
        engine.dispose()
        if not revoked:
            sys.stderr.write(f"error: no active key {key_id}\n")
            raise typer.Exit(1)
        print(f"revoked key {key_id}")

    @export_app.command("corrections")
    def export_corrections(
        out: Annotated[Path, typer.Option(help="CSV file to write (for `hotline train routing`)")],
        since: Annotated[
            datetime | None, typer.Option(help="accepted at or after (ISO date/time; local time if no offset)")
        ] = None,
        until: Annotated[datetime | None, typer.Option(help="accepted before")] = None,
    ) -> None:
        """Operator-accepted tickets as routing training data: text, department, the machine's rank of it.
        Train with `hotline train routing --csv OUT --text-column text --label-column department`."""
        from pipeline.meta import aware, check_moment
        from pipeline.service.corrections import correction_rows, to_csv
        from pipeline.service.wiring import open_repository

        for name, moment in (("--since", since), ("--until", until)):
            if moment is None:
                continue
            try:
                check_moment(moment)
            except ValueError as error:
                sys.stderr.write(f"error: {name}: {error}\n")
                raise typer.Exit(2) from None
        engine, repository = open_repository(load_settings())
        rows = list(correction_rows(repository, aware(since), aware(until)))
        try:
            with atomic_write(out, newline="") as handle:  # whole or not at all
                handle.writelines(to_csv(rows))
        except OSError as error:
            sys.stderr.write(f"error: cannot write {out}: {error.strerror or error}\n")
            raise typer.Exit(1) from None
        finally:
            engine.dispose()
        sys.stderr.write(f"{len(rows)} accepted tickets → {out}\n")

    @import_app.command("tickets")
    def import_tickets(
        csv_file: Annotated[Path, typer.Option("--csv", help="ticket history, UTF-8 CSV with a header row")],
        text_column: Annotated[str, typer.Option(help="the request (诉求内容)")],
        id_column: Annotated[str, typer.Option(help="the ticket number (工单编号)")],
        time_column: Annotated[str, typer.Option(help="when it was reported")],
        time_format: Annotated[
            str | None,
            typer.Option(
                help="strptime format of the time's leading characters (工单编号 20180107…: %Y%m%d); default ISO 8601"
            ),
        ] = None,
        timezone: Annotated[str, typer.Option(help="zone of times written without one")] = "Asia/Shanghai",
        matter_columns: Annotated[
            str, typer.Option(help="comma-separated taxonomy levels, joined with / (行业分类1级,…,行业分类4级)")
        ] = "",
        department_column: Annotated[str | None, typer.Option(help="the handling unit (处置单位)")] = None,
        caller_column: Annotated[
            str | None, typer.Option(help="the caller's number: kept only as its caller key (HMAC), never itself")
        ] = None,
    ) -> None:
        """Import a ticket history for related-ticket search (并单), so a deployment starts with its past. The
        district and road come from the text; importing the same file again adds nothing. The whole file is read
        first: a bad row anywhere imports nothing. Rows are then committed in batches (interrupted: run again, rows
        already imported are skipped)."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from pipeline.service.ticket_records import CsvColumns, TicketImportError, check_ticket_csv, read_ticket_csv
        from pipeline.service.wiring import open_repository, ticket_recorder

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            sys.stderr.write(f"error: --timezone: unknown time zone {timezone!r}\n")
            raise typer.Exit(2) from None
        columns = CsvColumns(
            text=text_column,
            ticket_id=id_column,
            time=time_column,
            time_format=time_format,
            timezone=timezone,
            matter=tuple(name.strip() for name in matter_columns.replace("，", ",").split(",") if name.strip()),
            department=department_column,
            caller=caller_column,
        )
        try:
            check_ticket_csv(csv_file, columns)
        except TicketImportError as error:
            sys.stderr.write(f"error: {error} (nothing imported)\n")
            raise typer.Exit(2) from None
        settings = load_settings()
        engine, repository = open_repository(settings)
        try:
            added, seen = repository.add_records(read_ticket_csv(csv_file, columns, ticket_recorder(settings)))
        except TicketImportError as error:  # the file changed after it was checked
            sys.stderr.write(f"error: {error} (rows before it may be imported; run again once fixed)\n")
            raise typer.Exit(2) from None
        finally:
            engine.dispose()
        sys.stderr.write(f"{added} tickets imported, {seen} already there\n")


def _celery_settings(load_settings, who: str):
    """Settings with a broker; without HOTLINE_REDIS_URL it exits 2 (`hotline serve` then runs jobs itself)."""
    settings = load_settings()
    if not settings.redis_url:
        sys.stderr.write(f"error: {who} needs HOTLINE_REDIS_URL (without it, `hotline serve` runs jobs)\n")
        raise typer.Exit(2)
    return settings


def _mask_numbers_in_celery_logs() -> None:
    """Celery sets up its handlers when it starts (a worker's task logger last): mask numbers in them too."""
    from celery.signals import after_setup_logger, after_setup_task_logger

    from pipeline.logmask import install

    after_setup_logger.connect(lambda **_: install(), weak=False)
    after_setup_task_logger.connect(lambda **_: install(), weak=False)
