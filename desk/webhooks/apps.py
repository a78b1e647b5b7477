from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "desk.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from desk.core.events import on_event_written
        from desk.webhooks.tasks import schedule_deliveries

        # Every event may go out to subscribed endpoints; the rows commit with the event.
        on_event_written(schedule_deliveries)
