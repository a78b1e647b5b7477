from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "desk.cases"
    label = "cases"
    verbose_name = "After-sales cases"
