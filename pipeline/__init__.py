"""One call, from recording to transcript and ticket: settings, engines built from settings (`factory`),
`run_pipeline` (`run`), call metadata (`meta`), output formats, ASR and ticket evaluation, and the `hotline` CLI.

The service that processes calls for others (database, API keys, recording store, job queue, Celery worker,
webhooks) is the subpackage `pipeline.service`. Nothing in this package imports it except the CLI, which
registers the service's commands (`pipeline.service.cli`).
"""
