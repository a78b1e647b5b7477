"""Seed the request types every shop starts with (诉求类型); admins add more."""

from django.db import migrations

TYPES = [
    ("product_quality", "产品质量", "Product quality", True),
    ("logistics", "物流配送", "Logistics and delivery", False),
    ("usage", "使用与安装", "Usage and installation", True),
    ("return_exchange", "退换货", "Return or exchange", False),
    ("refund", "退款", "Refund", False),
    ("invoice", "发票", "Invoice", False),
    ("complaint", "投诉", "Complaint", True),
    ("other", "其他", "Other", False),
]


def seed(apps, schema_editor):
    RequestType = apps.get_model("tickets", "RequestType")
    for position, (code, zh, en, complex_) in enumerate(TYPES):
        RequestType.objects.get_or_create(
            code=code, defaults={"name_zh": zh, "name_en": en, "is_complex": complex_, "sort_order": position * 10}
        )


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
