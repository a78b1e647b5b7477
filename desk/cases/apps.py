from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "desk.cases"
    label = "cases"
    verbose_name = "After-sales cases"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from desk.cases import policy_versions
        from desk.cases.notices import write_notices
        from desk.cases.views import EVENT_LABELS
        from desk.cases.webhook_payload import case_payload
        from desk.core.event_labels import register_event_labels
        from desk.core.events import on_event_written
        from desk.webhooks.services import describe_subject

        # The customer's notice of a case step commits with the step's event (an outbox).
        on_event_written(write_notices)
        # Webhook bodies of case.* events carry the case's number, type, order, amounts and refund.
        describe_subject("aftersalescase", case_payload)
        # A customer's timeline names case steps as the case page does.
        register_event_labels(EVENT_LABELS)
        # The case list's team and assignee selects are held per process: a change to staff re-reads.
        from django.contrib.auth import get_user_model
        from django.db.models import Model

        from desk.accounts.models import StaffProfile, Team
        from desk.cases.views import forget_filter_people

        people: tuple[type[Model], ...] = (Team, StaffProfile, get_user_model())
        for sender in people:
            uid = f"cases.filter_people.forget.{sender.__name__}"
            post_save.connect(forget_filter_people, sender=sender, dispatch_uid=f"{uid}.save")
            post_delete.connect(forget_filter_people, sender=sender, dispatch_uid=f"{uid}.delete")
        # Each process holds which policy versions exist (desk.cases.policy_versions): a change re-reads.
        for model in ("ReturnPolicy", "PolicyVersion"):
            sender = self.get_model(model)
            uid = f"cases.policy_versions.forget.{model}"
            post_save.connect(policy_versions.forget, sender=sender, dispatch_uid=f"{uid}.save")
            post_delete.connect(policy_versions.forget, sender=sender, dispatch_uid=f"{uid}.delete")
