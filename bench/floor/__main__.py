"""Migrate the floor database and fill it: `python -m bench.floor --rows 1000000`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor.settings"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from bench.floor.models import Item
    from bench.load import Table

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    start = timezone.now() - timedelta(days=365)
    step = timedelta(days=365) / max(args.rows, 1)
    titles = ["耳机左耳没有声音", "Refund not received", "快递三天没有更新物流", "Invoice for my order"]
    with transaction.atomic():
        Table(Item, ["title", "category", "price", "created_at"]).write(
            (titles[i % 4], f"cat{i % 10}", Decimal("199.00"), start + step * i) for i in range(args.rows)
        )
    print(f"floor: {args.rows:,} rows in {time.perf_counter() - began:.1f} s", flush=True)


if __name__ == "__main__":
    main()
