from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TicketsConfig(AppConfig):
    name = "desk.tickets"
    label = "tickets"

    def ready(self) -> None:
        from desk.tickets.search_index import heal_after_migrate

        # A later migration that rebuilds tickets_ticket on SQLite drops the search triggers.
        post_migrate.connect(heal_after_migrate, sender=self, dispatch_uid="tickets.search_heal")
