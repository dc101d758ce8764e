from django.apps import AppConfig


class MediaRelayConfig(AppConfig):
    name = "media_relay"

    def ready(self) -> None:
        from clubhouse.metrics import scrape_collector_register
        from media_relay.metrics import relay_embedded_collector

        # The embedded worker's figures on the web process's /metrics (docs/operations.md).
        scrape_collector_register(relay_embedded_collector())
