from django.apps import AppConfig


class ClubhouseConfig(AppConfig):
    name = "clubhouse"

    def ready(self) -> None:
        from clubhouse.api import json_types_strict

        json_types_strict()
