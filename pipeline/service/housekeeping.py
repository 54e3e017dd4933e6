"""The service's periodic work, in one place, whichever timer runs it.

- `sweep`: calls whose queue message was lost (queued too long, or a lease that expired) and webhook deliveries
  that are due go back to the queue (`Jobs.sweep`);
- `purge_recordings`: with a retention period, the audio of finished calls older than it is deleted
  (`Jobs.purge_recordings`);
- `weekly_report`: last week's brief (一周热点) stored under the data directory once the week is over
  (`pipeline.service.reports.Reports.weekly_due`; beat sends `hotline.weekly_report` hourly, a made brief is
  not made again).

Who keeps time: with Celery, beat (`hotline beat`, or `hotline worker --beat` on one worker) sends the periodic
tasks `hotline.sweep` and `hotline.purge_recordings` (`pipeline.service.tasks`), which call these methods;
without Redis, `start` runs them on a thread of the API process, after putting back what that process's
in-memory queue lost in a restart. `hotline sweep` runs `Jobs.sweep` once, for cron.
"""

import logging
import threading

from pipeline.service.jobs import Jobs
from pipeline.service.reports import Reports

logger = logging.getLogger(__name__)


class Housekeeping:
    """Sweeps, purges and the weekly brief for one service; `retention_days` None keeps recordings for ever,
    `reports` None makes no brief."""

    def __init__(self, jobs: Jobs, retention_days: float | None = None, reports: Reports | None = None):
        self.jobs = jobs
        self.retention_days = retention_days
        self.reports = reports
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Lost jobs and due webhooks back to the queue; how many."""
        return self.jobs.sweep()

    def purge_recordings(self) -> int:
        """Recordings past the retention period deleted; how many (none without a retention period)."""
        if not self.retention_days:
            return 0
        return self.jobs.purge_recordings(self.retention_days)

    def weekly_report(self) -> str | None:
        """Last week's brief made and stored, if it was not yet: its file name; else None."""
        if self.reports is None:
            return None
        made = self.reports.weekly_due()
        return made.name if made else None

    def requeue_all(self) -> int:
        """Every unfinished call back to the queue, its lease dropped. Only for the in-process queue at start-up:
        whatever it held died with the process, and no other process can hold a lease."""
        self.jobs.repository.release_all()
        unfinished = self.jobs.repository.stale(0)
        for call_id, phase, priority in unfinished:
            self.jobs.queue.enqueue(phase, call_id, priority)
        return len(unfinished)

    def start(self, interval_s: float) -> None:
        """In-process mode: `requeue_all`, then `sweep`, `purge_recordings` and `weekly_report` now and every
        `interval_s`."""
        self._thread = threading.Thread(target=self._run, args=(interval_s,), name="hotline-sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self, interval_s: float) -> None:
        requeued = False
        while not self._stopping.is_set():
            try:
                if not requeued:  # tried again at the next tick if the database was not there yet
                    self.requeue_all()
                    requeued = True
                self.sweep()
                self.purge_recordings()
            except Exception:  # the next tick tries again
                logger.exception("sweep failed")
            try:
                self.weekly_report()
            except Exception:  # a report that fails must not stop the sweeps; the next tick tries again
                logger.exception("weekly report failed")
            self._stopping.wait(interval_s)
