"""manage.py verify_evidence [--case AS0000123]: recompute the evidence chains and report every break."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk.cases.models import CASE_PREFIX
from desk.evidence.chain import ChainReport, chained_case_ids, verify_all


class Command(BaseCommand):
    help = (
        "Recompute every link of the evidence hash chains (event content from the event log, file content "
        "from disk) and print OK or each broken link; exits non-zero on a break."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", help="one case, by number (AS0000123) or id")

    def handle(self, *args: Any, **options: Any) -> None:
        case_ids = [_case_id(options["case"])] if options["case"] else chained_case_ids()
        broken = 0
        for report in verify_all(case_ids):
            self._print(report)
            broken += not report.ok
        if not case_ids:
            self.stdout.write("No evidence chains yet.")
        if broken:
            raise CommandError(f"{broken} of {len(case_ids)} chain(s) broken", returncode=1)

    def _print(self, report: ChainReport) -> None:
        if report.ok and not report.links:
            self.stdout.write(f"{report.number}: no evidence chain")
            return
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"{report.number}: OK, {report.links} links, head {report.head}"))
            return
        self.stdout.write(self.style.ERROR(f"{report.number}: BROKEN, {report.links} links, head {report.head}"))
        for found in report.breaks:
            where = f"link {found.sequence} ({found.kind} {found.object_id})" if found.sequence else "chain"
            self.stdout.write(f"  {where}: {found.problem}")
            for change in found.changes:
                self.stdout.write(f"    {change}")


def _case_id(value: str) -> int:
    text = value.strip().upper().removeprefix(CASE_PREFIX)
    if not text.isdigit():
        raise CommandError(f"Not a case number: {value}")
    return int(text)
