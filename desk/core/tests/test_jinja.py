"""The template helpers behave as the Jinja and Django functions they stand in for."""

from __future__ import annotations

import pytest
from django.template import engines
from django.utils import translation
from markupsafe import Markup

from desk.core.jinja import display, template_gettext
from desk.tickets.models import Status, Ticket


def _render(source: str, **context: object) -> str:
    return engines["jinja2"].from_string(source).render(context)


def test_template_gettext_translates_formats_and_escapes_like_newstyle_gettext() -> None:
    with translation.override("en"):
        assert template_gettext("Page %(n)s", n="<b>2</b>") == "Page &lt;b&gt;2&lt;/b&gt;"
        assert isinstance(template_gettext("Send reply"), Markup)
        assert template_gettext("100%% sure") == "100% sure"  # formatted even without variables
        english = template_gettext("Send reply")
    with translation.override("zh-hans"):
        assert template_gettext("Send reply") != english  # remembered per language
    with translation.override("en"):
        assert _render('{{ _("Page %(n)s", n=x) }} {{ gettext("Send reply") }}', x="<i>") == "Page &lt;i&gt; Send reply"


@pytest.mark.django_db
def test_display_prints_what_get_display_prints_in_each_language() -> None:
    ticket = Ticket(status=Status.PENDING_CUSTOMER, priority=3, channel="email")
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert display(ticket, "status") == ticket.get_status_display()
            assert display(ticket, "priority") == ticket.get_priority_display()
            assert _render('{{ t|display("channel") }}', t=ticket) == ticket.get_channel_display()
    ticket.status = "not-a-status"
    assert display(ticket, "status") == "not-a-status"


def test_imports_inside_included_templates_still_see_render_globals_when_there_are_some() -> None:
    env = engines["jinja2"].env
    macros = env.from_string("{% macro hello() %}hi {{ extra_global }}{% endmacro %}")
    template = env.from_string("{% import m as lib %}{{ lib.hello() }}", globals={"extra_global": "there"})
    assert template.render(m=macros).strip() == "hi there"
    plain = env.from_string("{% import m as lib %}{{ lib.hello() }}")
    assert plain.render(m=macros).strip() == "hi"
