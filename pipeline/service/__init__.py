"""The service: calls pushed by telephony, processed by workers, reviewed through the API.

`database` (SQLAlchemy tables, Alembic `migrations/`), `repository/` (the call state machine with claims and
leases, reviews, audits, search, webhook outbox, retention: one module each), `recordings` (the recording store
port and the local store; `s3` is loaded only when configured), `keys` (API keys, roles, login sessions),
`webhooks` (signing and delivery), `jobs` (what a worker does with a call id), `processor` (the models
behind `jobs`, loaded on first use), `housekeeping` (sweeps and purges, on Celery beat or a thread of the API),
`queues` (the job routes, Celery sender and the in-process thread queue), `tasks` (the Celery worker's app and
beat schedule: imported only by `hotline worker` and `hotline beat`), `wiring` (the services built from
settings), `corrections` (training data out of reviewed tickets), `cli` (the service's commands).

It runs one call with `pipeline.run.run_pipeline` (through `processor`), the same function as the CLI; the API
(`api/`) sits on top.
"""
