"""Seed the compensation catalogue with its five kinds; shops rename, revalue or switch them off in the admin.

`unit_value` is what one unit is worth in money, so approval limits compare like with like:
1,000 points are worth 10.00.
"""

from decimal import Decimal

from django.db import migrations

KINDS = [
    # code, name, unit, unit value, paid through the payment provider
    ("coupon", "优惠券 Coupon", "CNY", Decimal("1"), False),
    ("points", "积分 Points", "points", Decimal("0.01"), False),
    ("balance", "账户余额 Store balance", "CNY", Decimal("1"), False),
    ("goods", "赠品 Goods", "CNY", Decimal("1"), False),
    ("money", "现金打款 Money", "CNY", Decimal("1"), True),
]


def seed(apps, schema_editor):
    CompensationKind = apps.get_model("cases", "CompensationKind")
    for position, (code, name, unit, unit_value, pays_money) in enumerate(KINDS):
        CompensationKind.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "unit_value": unit_value,
                "pays_money": pays_money,
                "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_notices")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
