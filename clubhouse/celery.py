import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")

# CountedTask: task outcomes for /metrics even when a task run in place raises
# (clubhouse/metrics.py); named, not imported, so the metrics module may import this app.
app = Celery("clubhouse", task_cls="clubhouse.metrics:CountedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
