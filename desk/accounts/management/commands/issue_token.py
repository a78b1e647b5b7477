"""`manage.py issue_token <username> <name>`: create an API token and print its key once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk.accounts.services import issue_token
from desk.core.errors import DomainError


class Command(BaseCommand):
    help = "Issue an API token for a staff or integration user; the key is printed once and never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("name", help="What the token is for, e.g. 'shop sync'.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            token, key = issue_token(user, name, by=None)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Token {token.name!r} (id {token.pk}) for {username}. Keep the key; it is not shown again:")
        self.stdout.write(key)
