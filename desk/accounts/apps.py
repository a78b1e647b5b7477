from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    name = "desk.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.core.signals import request_started

        from desk.accounts.backends import forget_user
        from desk.accounts.sessions import forget_session_user

        request_started.connect(forget_session_user, dispatch_uid="accounts.forget_session_user")

        # Users are cached for pages (desk.accounts.backends.StaffBackend): a change drops the copy.
        for sender in (settings.AUTH_USER_MODEL, "accounts.StaffProfile"):
            post_save.connect(forget_user, sender=sender, dispatch_uid=f"accounts.forget_user.save.{sender}")
            post_delete.connect(forget_user, sender=sender, dispatch_uid=f"accounts.forget_user.delete.{sender}")
