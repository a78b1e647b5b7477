"""Seed the default return policy (version 1): the rules shops' customers already know.

China's 7-day no-reason return from the day after delivery is signed for, the statutory
exclusions, 15-day quality exchange, 12-month warranty, and marketplace timers (48 h / 5 days /
3 days to answer, 7 days to ship the return, 10 days to confirm receipt). Shops edit it by
adding a new version; cases keep the version they were judged by.
"""

from datetime import datetime, timezone

from django.db import migrations

STATUTORY = ["custom_made", "perishable", "unsealed_digital", "periodical"]
PAYERS = {
    "no_reason": "customer",
    "quality": "shop",
    "not_as_described": "shop",
    "wrong_item": "shop",
    "damaged": "shop",
    "missing_part": "shop",
    "not_received": "shop",
    "other": "customer",
}


def seed(apps, schema_editor):
    ReturnPolicy = apps.get_model("cases", "ReturnPolicy")
    PolicyVersion = apps.get_model("cases", "PolicyVersion")
    policy, _ = ReturnPolicy.objects.get_or_create(
        name="默认退换货政策 Default return policy", storefront=None, category="", sku=""
    )
    PolicyVersion.objects.get_or_create(
        policy=policy,
        version=1,
        defaults={
            "effective_from": datetime(2000, 1, 1, tzinfo=timezone.utc),
            "notes": "七天无理由退货 (签收次日起算), 15 天质量换货, 12 个月保修; marketplace timers",
            "no_reason_days": 7,
            "quality_return_days": 7,
            "quality_exchange_days": 15,
            "warranty_months": 12,
            "exclusions": STATUTORY,
            "optional_exclusions": ["unsealed_hygiene", "activated_device", "clearance"],
            "require_intact": True,
            "return_shipping_payer": PAYERS,
            "double_shipping_compensation": True,
            "refund_due_days": 7,
            "auto_approve_unshipped_hours": 48,
            "auto_approve_shipped_days": 5,
            "auto_approve_virtual_days": 3,
            "customer_ship_days": 7,
            "shop_receive_days": 10,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
