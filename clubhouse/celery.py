import logging.config
import os
from typing import Any

from celery import Celery, signals
from django.conf import settings

from clubhouse.logs import request_id, request_id_valid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")

# CountedTask: task outcomes for /metrics even when a task run in place raises
# (clubhouse/metrics.py); named, not imported, so the metrics module may import this app.
app = Celery("clubhouse", task_cls="clubhouse.metrics:CountedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The header a task message carries the request id of what queued it in (clubhouse/logs.py).
REQUEST_ID_HEADER = "request_id"


@signals.celeryd_init.connect
@signals.setup_logging.connect
def _logging_as_django(**kwargs: Any) -> None:
    """The worker and beat log through settings.LOGGING (JSON outside DEBUG, with request ids)
    instead of Celery's own handlers: a receiver of setup_logging is what tells Celery to leave
    logging be. Their level is LOG_LEVEL's; `-l` has no effect. At celeryd_init too, the
    worker's first signal, so that the warnings it gives before setting up logging (running as
    root) are log lines like the rest."""
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


@signals.before_task_publish.connect
def _request_id_to_headers(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    rid = request_id.get()
    if rid is not None and headers is not None:
        headers[REQUEST_ID_HEADER] = rid


@signals.task_prerun.connect
def _request_id_from_headers(task: Any = None, **kwargs: Any) -> None:
    """The task's log lines carry the id of the request that queued it (none: beat's, or a task
    queued outside any request; run eagerly: the id it runs in). Reset at task_postrun, so the
    next task starts without."""
    if task is None:
        return
    rid = getattr(task.request, REQUEST_ID_HEADER, None)
    if rid is None:
        rid = (getattr(task.request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    if not request_id_valid(rid):
        rid = request_id.get()
    task.request._clubhouse_request_id_token = request_id.set(rid)


@signals.task_postrun.connect
def _request_id_reset(task: Any = None, **kwargs: Any) -> None:
    token = getattr(task.request, "_clubhouse_request_id_token", None) if task else None
    if token is not None:
        request_id.reset(token)
