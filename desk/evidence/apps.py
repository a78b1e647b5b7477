from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "desk.evidence"
    label = "evidence"
    verbose_name = "Confirmation, evidence and disputes"

    def ready(self) -> None:
        from desk.core.events import on_event_written
        from desk.evidence.chain import link_case_events

        # Events of a case under evidence keeping are linked into its chain in their own transaction.
        on_event_written(link_case_events)
