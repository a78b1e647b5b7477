from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "desk.customers"
    label = "customers"
