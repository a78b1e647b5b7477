"""Attachments open through permission-checked views (page and API), never through a public /media/ URL."""

from __future__ import annotations

import importlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import clear_url_caches, reverse

from desk.accounts.services import issue_token
from desk.core.testing import make_customer, request_type
from desk.tickets import services
from desk.tickets.models import RoutingRule

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def ticket(support_team, agent, customer):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return services.create_ticket(by=agent, customer=customer, subject="屏幕裂了", request_type=request_type())


@pytest.fixture
def photo(ticket, agent):
    upload = SimpleUploadedFile("裂缝 photo.png", PNG, content_type="image/png")
    return services.add_attachment(ticket, upload, by=agent)


def _bytes(response) -> bytes:
    return b"".join(response.streaming_content)


def _bearer(user) -> dict[str, str]:
    _token, key = issue_token(user, "tests", by=user)
    return {"Authorization": f"Bearer {key}"}


# --- The page -------------------------------------------------------------------------------------
def test_the_ticket_page_links_to_a_download_its_owner_can_open(client, agent, ticket, photo):
    client.force_login(agent)
    link = reverse("tickets:attachment", args=[ticket.pk, photo.pk])
    assert f'href="{link}"' in client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert photo.file.url not in client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()

    response = client.get(link)

    assert response.status_code == 200
    assert _bytes(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline;")
    assert "photo.png" in response["Content-Disposition"]


def test_outsiders_and_unknown_ids_get_404(client, outsider, agent, ticket, photo, customer):
    client.force_login(outsider)
    assert client.get(reverse("tickets:attachment", args=[ticket.pk, photo.pk])).status_code == 404

    client.force_login(agent)
    assert client.get(reverse("tickets:attachment", args=[ticket.pk, photo.pk + 1000])).status_code == 404
    other = services.create_ticket(by=agent, customer=make_customer("李四"), subject="另一单",
                                   request_type=request_type())  # fmt: skip
    # The attachment exists and the agent may open both tickets, but it is not this ticket's.
    assert client.get(reverse("tickets:attachment", args=[other.pk, photo.pk])).status_code == 404


def test_anonymous_visitors_are_sent_to_login(client, ticket, photo):
    response = client.get(reverse("tickets:attachment", args=[ticket.pk, photo.pk]))

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_uploads_have_no_public_url_even_with_debug(client, agent, photo, settings):
    """config/urls.py once served MEDIA_ROOT to anyone under DEBUG; it is read again here with DEBUG on."""
    import config.urls

    settings.DEBUG = True
    try:
        patterns = importlib.reload(config.urls).urlpatterns
        assert [p for p in patterns if str(p.pattern).startswith("media")] == []
    finally:
        settings.DEBUG = False
        importlib.reload(config.urls)
        clear_url_caches()
    client.force_login(agent)
    assert client.get(photo.file.url).status_code == 404


# --- The API --------------------------------------------------------------------------------------
def test_api_url_downloads_the_file_for_the_owner(client, agent, ticket, photo):
    listed = client.get(f"/api/tickets/{ticket.number}/attachments", headers=_bearer(agent))
    url = listed.json()["items"][0]["url"]
    assert url == f"/api/tickets/{ticket.pk}/attachments/{photo.pk}/file"

    response = client.get(url, headers=_bearer(agent))

    assert response.status_code == 200
    assert _bytes(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_api_download_is_404_for_outsiders_and_unknown_ids_and_401_without_login(
    client, outsider, agent, ticket, photo
):
    url = f"/api/tickets/{ticket.pk}/attachments/{photo.pk}/file"

    outsider_answer = client.get(url, headers=_bearer(outsider))
    unknown = client.get(f"/api/tickets/{ticket.pk}/attachments/{photo.pk + 1000}/file", headers=_bearer(agent))
    huge = client.get(f"/api/tickets/{ticket.pk}/attachments/{10**25}/file", headers=_bearer(agent))
    anonymous = client.get(url)

    assert (outsider_answer.status_code, unknown.status_code, anonymous.status_code) == (404, 404, 401)
    assert (outsider_answer.json()["code"], unknown.json()["code"]) == ("ticket.not_found", "attachment.not_found")
    assert huge.status_code in (400, 404)
