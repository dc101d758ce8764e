"""Background work that services ask for, by name.

`payouts/tasks.py` is an edge: its Celery tasks take ids and call one service each, so it
imports the services. A service that queues work must therefore not import the tasks (that is
an import cycle): it names the job here, and `payouts/tasks.py` registers the task that runs
each name when it is imported (`PayoutsConfig.ready` imports it, in web and worker processes
alike).
"""

from __future__ import annotations

from typing import Any, Protocol


class Job(Protocol):
    """What services need of a Celery task."""

    def delay(self, *args: Any) -> Any: ...

    @property
    def app(self) -> Any: ...


_JOBS: dict[str, Job] = {}


class JobNotRegistered(LookupError):
    pass


def job_register(name: str, task: Job) -> None:
    """Registering again replaces (ready() may run twice)."""
    _JOBS[name] = task


def job(name: str) -> Job:
    try:
        return _JOBS[name]
    except KeyError:
        raise JobNotRegistered(
            f"No task runs the job {name!r}: payouts/tasks.py registers them when imported "
            "(PayoutsConfig.ready imports it; did the process call django.setup()?)."
        ) from None


def job_enqueue(name: str, *args: Any) -> None:
    """Queue the job (run in place when Celery runs tasks eagerly: no broker)."""
    job(name).delay(*args)


def job_runs_inline(name: str) -> bool:
    """True when the job runs where it is sent (no broker: `make run`, the tests)."""
    return bool(job(name).app.conf.task_always_eager)
