from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "desk.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from desk.core import converters
        from desk.core.maintenance import after_migrate

        converters.register()  # `<id:pk>` in every URLconf: apps are ready before URLs are read

        post_migrate.connect(after_migrate, sender=self, dispatch_uid="desk.core.statistics")
