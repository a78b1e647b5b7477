from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class TicketsConfig(AppConfig):
    name = "desk.tickets"
    label = "tickets"

    def ready(self) -> None:
        from desk.core.events import on_event_written
        from desk.tickets.queries import forget_config
        from desk.tickets.routing import forget_rules
        from desk.tickets.search_index import heal_after_migrate
        from desk.tickets.services import follow_customer_tier

        on_event_written(follow_customer_tier)  # a customer's new tier reaches their open tickets
        # A later migration that rebuilds tickets_ticket on SQLite drops the search triggers.
        post_migrate.connect(heal_after_migrate, sender=self, dispatch_uid="tickets.search_heal")
        # Request types and canned replies are cached for pages (desk.tickets.queries.request_types).
        for model in ("RequestType", "CannedReply"):
            sender = self.get_model(model)
            post_save.connect(forget_config, sender=sender, dispatch_uid=f"tickets.forget_config.save.{model}")
            post_delete.connect(forget_config, sender=sender, dispatch_uid=f"tickets.forget_config.delete.{model}")
        # Routing rules with their teams are cached for ticket creation (desk.tickets.routing.active_rules).
        for sender in (self.get_model("RoutingRule"), "accounts.Team"):
            name = getattr(sender, "__name__", sender)
            post_save.connect(forget_rules, sender=sender, dispatch_uid=f"tickets.forget_rules.save.{name}")
            post_delete.connect(forget_rules, sender=sender, dispatch_uid=f"tickets.forget_rules.delete.{name}")
