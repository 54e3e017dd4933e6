"""The Celery task names are a wire format: messages already in Redis name their task. One table (`JobRoute`s)
says which `Jobs` method a job runs; both queues and the worker's tasks dispatch through it."""

from pipeline.service.jobs import Jobs
from pipeline.service.queues import PHASE_ROUTES, QUEUES, WEBHOOK_ROUTE, CeleryQueue
from pipeline.service.repository import Phase


def test_task_names_do_not_follow_module_paths() -> None:
    # Changing one strands every message queued under the old name when the workers are upgraded.
    assert {phase: (route.task, route.queue) for phase, route in PHASE_ROUTES.items()} == {
        Phase.TRANSCRIBE: ("hotline.transcribe", "asr"),
        Phase.EXTRACT: ("hotline.extract", "extract"),
    }
    assert (WEBHOOK_ROUTE.task, WEBHOOK_ROUTE.queue) == ("hotline.webhook", "webhooks")
    assert QUEUES == ("asr", "extract", "webhooks")


def test_every_phase_has_a_route_to_its_jobs_method() -> None:
    assert set(PHASE_ROUTES) == set(Phase)
    assert {phase: route.run for phase, route in PHASE_ROUTES.items()} == {
        Phase.TRANSCRIBE: Jobs.transcribe,
        Phase.EXTRACT: Jobs.extract,
    }
    assert WEBHOOK_ROUTE.run is Jobs.deliver_webhook
    # the repository hands phases back as the strings it stores: they find the same route
    assert PHASE_ROUTES["extract"] is PHASE_ROUTES[Phase.EXTRACT]


def test_the_worker_registers_its_tasks_under_those_names() -> None:
    from pipeline.service import tasks

    names = {*(route.task for route in PHASE_ROUTES.values()), WEBHOOK_ROUTE.task}
    assert {name: tasks.app.tasks[name].name for name in names} == {name: name for name in names}
    assert tasks.transcribe.name == PHASE_ROUTES[Phase.TRANSCRIBE].task
    assert tasks.extract.name == PHASE_ROUTES[Phase.EXTRACT].task
    assert tasks.webhook.name == WEBHOOK_ROUTE.task


def test_the_celery_queue_sends_each_job_by_its_wire_name_and_queue() -> None:
    class SendingApp:
        def __init__(self):
            self.sent = []

        def send_task(self, name, args, queue, priority):
            self.sent.append((name, args, queue, priority))

    app = SendingApp()
    queue = CeleryQueue(app)
    queue.enqueue(Phase.TRANSCRIBE, "c-1", "live")
    queue.enqueue("extract", "c-1", "backlog")
    queue.enqueue_webhook("d-1")
    assert app.sent == [
        ("hotline.transcribe", ["c-1"], "asr", 0),
        ("hotline.extract", ["c-1"], "extract", 6),
        ("hotline.webhook", ["d-1"], "webhooks", 0),
    ]
