"""A ticket's attachments over the API page like every list."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from desk.accounts.services import issue_token
from desk.core.testing import request_type
from desk.tickets import services
from desk.tickets.models import RoutingRule

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 20


def test_second_page_of_attachments(client, agent, support_team, customer):
    RoutingRule.objects.create(name="默认", team=support_team)
    ticket = services.create_ticket(by=agent, customer=customer, subject="耳机", request_type=request_type())
    for n in range(3):
        services.add_attachment(ticket, SimpleUploadedFile(f"p{n}.png", PNG, "image/png"), by=agent)
    _, key = issue_token(agent, "tests", by=None)
    headers = {"Authorization": f"Bearer {key}"}
    url = f"/api/tickets/{ticket.number}/attachments"

    first = client.get(url, {"limit": 2}, headers=headers).json()
    second = client.get(url, {"limit": 2, "offset": first["next_offset"]}, headers=headers).json()

    assert ([a["original_name"] for a in first["items"]], first["next_offset"]) == (["p0.png", "p1.png"], 2)
    assert ([a["original_name"] for a in second["items"]], second["next_offset"]) == (["p2.png"], None)
