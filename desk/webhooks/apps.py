from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "desk.webhooks"
    label = "webhooks"
