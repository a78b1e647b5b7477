from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "desk.sla"
    label = "sla"
    verbose_name = "SLA"

    def ready(self) -> None:
        from desk.sla import services  # noqa: F401  connects the signals that drop cached clocks
