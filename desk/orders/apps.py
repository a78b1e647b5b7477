from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "desk.orders"
    label = "orders"
