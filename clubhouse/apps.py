from django.apps import AppConfig
from django.core.signals import request_finished

from clubhouse.logs import request_id_clear


class ClubhouseConfig(AppConfig):
    name = "clubhouse"

    def ready(self) -> None:
        # Imported here, not at the top: clubhouse.api imports DRF's serializers and views,
        # which need the app registry that is still loading when Django imports this module.
        from clubhouse.api import json_types_strict

        json_types_strict()
        from clubhouse.metrics import celery_metrics_register, multiprocess_forget_dead

        # Task outcomes and the queue-age gauge (docs/operations.md "Metrics").
        celery_metrics_register()
        multiprocess_forget_dead()  # sockets counted by a process that crashed
        request_finished.connect(request_id_clear, dispatch_uid="clubhouse.request_id_clear")
