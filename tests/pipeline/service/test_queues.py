"""The Celery task names are a wire format: messages already in Redis name their task."""

from pipeline.service.queues import QUEUE_OF_PHASE, TASK_OF_PHASE, WEBHOOK_TASK


def test_task_names_do_not_follow_module_paths() -> None:
    # Changing one strands every message queued under the old name when the workers are upgraded.
    assert TASK_OF_PHASE == {"transcribe": "hotline.transcribe", "extract": "hotline.extract"}
    assert WEBHOOK_TASK == "hotline.webhook"
    assert QUEUE_OF_PHASE == {"transcribe": "asr", "extract": "extract"}


def test_the_worker_registers_its_tasks_under_those_names() -> None:
    from pipeline.service import tasks

    names = {*TASK_OF_PHASE.values(), WEBHOOK_TASK}
    assert {name: tasks.app.tasks[name].name for name in names} == {name: name for name in names}
    assert tasks.transcribe.name == TASK_OF_PHASE["transcribe"]
    assert tasks.extract.name == TASK_OF_PHASE["extract"]
    assert tasks.webhook.name == WEBHOOK_TASK
