"""The Jinja2 environment for staff and customer pages: url(), static(), i18n, dates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from jinja2 import Environment


def url(name: str, *args: Any, **kwargs: Any) -> str:
    return reverse(name, args=args or None, kwargs=kwargs or None)


def localtime(value: datetime | None, fmt: str = "Y-m-d H:i") -> str:
    if value is None:
        return ""
    return date_format(timezone.localtime(value), fmt)


def shorttime(value: datetime | None) -> str:
    """ "11-24 09:30" in the shop's zone: strftime, since date_format costs ~10x per table cell."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%m-%d %H:%M")


def environment(**options: Any) -> Environment:
    options.setdefault("extensions", [])
    options["extensions"] = [*options["extensions"], "jinja2.ext.i18n"]
    env = Environment(**options)  # noqa: S701  autoescape is set by Django's backend
    env.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        {
            "url": url,
            "static": static,
            "get_language": translation.get_language,
            "LANGUAGES": settings.LANGUAGES,
        }
    )
    env.filters["localtime"] = localtime
    env.filters["shorttime"] = shorttime
    return env
