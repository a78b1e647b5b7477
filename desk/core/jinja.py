"""The Jinja2 environment for staff and customer pages: url(), static(), i18n, dates."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from jinja2 import Environment, Template
from jinja2.runtime import Context
from markupsafe import Markup


def url(name: str, *args: Any, **kwargs: Any) -> str:
    """reverse(), remembered: a page asks for the same few URLs on every request."""
    try:
        key = (get_script_prefix(), get_urlconf(), translation.get_language())
        return _reverse(name, args, tuple(sorted(kwargs.items())), *key)
    except TypeError:  # an unhashable argument: reverse it the plain way
        return reverse(name, args=args or None, kwargs=kwargs or None)


@lru_cache(maxsize=4096)
def _reverse(
    name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...], prefix: str, urlconf: Any, language: Any
) -> str:
    return reverse(name, args=args or None, kwargs=dict(kwargs) or None, urlconf=urlconf)


_MESSAGES: dict[tuple[str | None, str], str] = {}
_MESSAGES_MAX = 20_000


def gettext(message: str) -> str:
    """Django's gettext, remembered per language: a ticket page translates ~130 template strings."""
    key = (translation.get_language(), message)
    text = _MESSAGES.get(key)
    if text is None:
        if len(_MESSAGES) >= _MESSAGES_MAX:
            _MESSAGES.clear()
        text = _MESSAGES[key] = translation.gettext(message)
    return text


_MARKUPS: dict[tuple[str | None, str], Markup] = {}


def template_gettext(__string: str, **variables: Any) -> Markup:
    """`_()` and `gettext()` in templates, as Jinja's newstyle gettext renders them (the translation
    trusted, then `%` formatting with the variables escaped), without its two `Context.call`s and a
    Markup build per use: a ticket page says `_()` ~60 times, a tenth of its render."""
    if variables:
        return Markup(gettext(__string)) % variables  # noqa: S704  our catalogs' text, as Jinja trusts it
    key = (translation.get_language(), __string)
    text = _MARKUPS.get(key)
    if text is None:
        if len(_MARKUPS) >= _MESSAGES_MAX:
            _MARKUPS.clear()
        text = _MARKUPS[key] = Markup(gettext(__string)) % {}  # noqa: S704  likewise
    return text


_CHOICE_LABELS: dict[tuple[type, str, str | None], dict[Any, str]] = {}


def display(obj: Any, field: str) -> Any:
    """`obj|display("status")`: what `obj.get_status_display()` prints, from labels translated once
    per language. Django's method rebuilds a hashable copy of the choices per call, translating
    every label to hash it: ~0.02 ms a call, 14 calls on a ticket page."""
    key = (type(obj), field, translation.get_language())
    labels = _CHOICE_LABELS.get(key)
    if labels is None:
        choices = obj._meta.get_field(field).flatchoices
        labels = _CHOICE_LABELS[key] = {value: str(label) for value, label in choices}
    value = getattr(obj, field)
    return labels.get(value, value)


@receiver(setting_changed)
def _forget_urls(setting: str, **kwargs: Any) -> None:
    if setting in ("ROOT_URLCONF", "FORCE_SCRIPT_NAME", "INSTALLED_APPS"):
        _reverse.cache_clear()
    if setting in ("LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS", "INSTALLED_APPS", "USE_I18N"):
        _MESSAGES.clear()
        _MARKUPS.clear()
        _CHOICE_LABELS.clear()


def csrf(request: HttpRequest) -> dict[str, Any]:
    """One masked CSRF token per rendered page (a Jinja2 context processor).

    Django's Jinja2 backend hands templates lazy `csrf_input`/`csrf_token` objects that mask the
    token again at every use: a ticket page with ten forms paid ten maskings (320 urandom calls).
    Masking once per response still defeats BREACH, as Django templates' own `{% csrf_token %}` does.
    Still lazy: a partial without a form neither masks nor sets the CSRF cookie.
    """
    token = SimpleLazyObject(lambda: get_token(request))
    return {
        "csrf_token": token,
        "csrf_input": SimpleLazyObject(
            lambda: format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
        ),
    }


# Django date-format codes that print digits only, whatever the language, and their strftime codes.
_NUMERIC_CODES = {"Y": "%Y", "m": "%m", "d": "%d", "H": "%H", "i": "%M", "s": "%S"}


@lru_cache(maxsize=64)
def _strftime_of(fmt: str) -> str | None:
    """The strftime pattern printing what Django's `fmt` prints, or None where `fmt` needs Django
    (month names, am/pm and the like are language-dependent)."""
    pattern = []
    for char in fmt:
        if char.isalpha():
            if char not in _NUMERIC_CODES:
                return None
            pattern.append(_NUMERIC_CODES[char])
        else:
            pattern.append("%%" if char == "%" else char)
    return "".join(pattern)


def localtime(value: datetime | None, fmt: str = "Y-m-d H:i") -> str:
    """A time in the shop's zone. Digit-only formats go through strftime: Django's `date_format` cost
    ~0.2 ms a call, a tenth of the ticket page for its 25 times."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    pattern = _strftime_of(fmt)
    return local.strftime(pattern) if pattern is not None else date_format(local, fmt)


def shorttime(value: datetime | None) -> str:
    """ "11-24 09:30" in the shop's zone: strftime, since date_format costs ~10x per table cell."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%m-%d %H:%M")


class DeskTemplate(Template):
    """A template whose `{% import %}` skips Jinja's check for render-only globals when there are none.

    Jinja compares the importing context's global names with the imported template's (a set minus a
    ChainMap's keys, in Python) on every import: three imports cost a ticket page ~4% of its time.
    Our templates are loaded without template-specific globals, so when every name the context holds
    as a global is an environment global, the cached module is the right one.
    """

    def _get_default_module(self, ctx: Context | None = None) -> Any:
        if ctx is not None and ctx.globals_keys.issubset(self.environment.globals):
            ctx = None
        return super()._get_default_module(ctx)


def environment(**options: Any) -> Environment:
    from desk.core.event_labels import event_label  # it translates through this module's gettext

    options.setdefault("extensions", [])
    options["extensions"] = [*options["extensions"], "jinja2.ext.i18n"]
    env = Environment(**options)  # noqa: S701  autoescape is set by Django's backend
    env.template_class = DeskTemplate
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext,
        ngettext=translation.ngettext,
        pgettext=translation.pgettext,
        npgettext=translation.npgettext,
        newstyle=True,
    )
    env.globals.update(
        {
            "_": template_gettext,
            "gettext": template_gettext,
            "url": url,
            "static": static,
            "event_label": event_label,
            "get_language": translation.get_language,
            "LANGUAGES": settings.LANGUAGES,
        }
    )
    env.filters["display"] = display
    env.filters["localtime"] = localtime
    env.filters["shorttime"] = shorttime
    return env
