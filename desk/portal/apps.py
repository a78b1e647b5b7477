from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "desk.portal"
    label = "portal"
    verbose_name = "Customer self-service portal"
