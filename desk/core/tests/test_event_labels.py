"""Event verbs as histories and timelines name them, in the page's language, areas' verbs included."""

from __future__ import annotations

from django.utils import translation

from desk.core.event_labels import event_label


def test_core_and_area_verbs_read_as_words_in_the_active_language() -> None:
    with translation.override("en"):
        assert event_label("ticket.replied") == "replied to the customer"
        assert event_label("order.auto_confirmed") == "receipt confirmed automatically"
        assert event_label("case.approve") == "approved the request"  # registered by the cases app
    with translation.override("zh-hans"):
        assert event_label("ticket.replied") != "replied to the customer"
        assert event_label("case.approve") != "approved the request"


def test_an_unknown_verb_reads_as_itself() -> None:
    assert event_label("plugin.something_new") == "plugin.something_new"


def test_localtime_prints_like_django_in_both_languages():
    from datetime import UTC, datetime

    from django.utils import timezone, translation
    from django.utils.formats import date_format

    from desk.core.jinja import localtime

    moment = datetime(2026, 3, 5, 1, 2, 3, tzinfo=UTC)
    for language in ("zh-hans", "en"):
        with translation.override(language):
            for fmt in ("Y-m-d H:i", "Y-m-d", "m-d H:i", "m-d H:i:s", "N j, Y"):
                assert localtime(moment, fmt) == date_format(timezone.localtime(moment), fmt)
    assert localtime(moment, "Y-m-d H:i") == "2026-03-05 09:02"  # Asia/Shanghai
    assert localtime(None) == ""
