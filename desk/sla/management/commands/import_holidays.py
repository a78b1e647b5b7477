"""manage.py import_holidays <calendar_id> <file.ics>: holidays and 调休 days from iCal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk.sla import services
from desk.sla.ical import BadCalendarFile, parse_days
from desk.sla.models import BusinessCalendar


class Command(BaseCommand):
    help = (
        "Import all-day events of an .ics file into a business calendar: each becomes a holiday, "
        "or a make-up working day (调休) when its summary contains 班 or 'workday'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("calendar_id", type=int, help="id of the BusinessCalendar to fill")
        parser.add_argument("path", help="the .ics file")
        parser.add_argument(
            "--hours-of-weekday",
            type=int,
            default=0,
            choices=range(7),
            help="weekday (0 = Monday) whose hours a make-up working day keeps (default 0)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        calendar = BusinessCalendar.objects.filter(pk=options["calendar_id"]).first()
        if calendar is None:
            raise CommandError(f"No business calendar with id {options['calendar_id']}.")
        try:
            data = Path(options["path"]).read_bytes()
            days, skipped = parse_days(data, hours_of_weekday=options["hours_of_weekday"])
        except OSError as error:
            raise CommandError(f"Cannot read {options['path']}: {error}") from error
        except BadCalendarFile as error:
            raise CommandError(f"{options['path']} is not an iCalendar file: {error}") from error
        counts = services.set_calendar_days(calendar, days)
        holidays = sum(1 for d in days if d.kind == "holiday")
        self.stdout.write(
            f"{calendar.name}: {holidays} holidays, {len(days) - holidays} make-up working days "
            f"({counts['created']} new, {counts['updated']} updated); {skipped} timed events skipped."
        )
