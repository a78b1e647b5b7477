"""/api/customers: batch upsert, filters, masked reads per role, the timeline, bad input → 4xx."""

from __future__ import annotations

from desk.core.testing import make_customer
from desk.customers.models import Channel, Customer
from desk.customers.services import add_identity, update_customer

URL = "/api/customers"


def test_batch_upsert_reports_each_row(client, shop, bearer):
    payload = {
        "customers": [
            {"external_id": "C-1", "name": "王小明", "phone": "13800138000", "tags": ["VIP"], "tier": "vip"},
            {"external_id": "C-2", "name": "Amy", "email": "not-an-email"},
            {"external_id": "C-3", "name": "Bob", "identities": [{"channel": "wechat", "value": "wx_3"}]},
        ]
    }
    response = client.post(URL, payload, content_type="application/json", headers=bearer(shop))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["failed"]) == (2, 1)
    assert body["results"][1]["error"]["field"] == "email"
    assert body["results"][1]["row"] == 2
    assert body["results"][1]["action"] == "failed"
    again = client.post(URL, payload, content_type="application/json", headers=bearer(shop)).json()
    assert (again["unchanged"], again["created"]) == (2, 0)
    assert Customer.objects.count() == 2


def test_batch_bad_input_is_a_400_never_a_500(client, shop, bearer):
    headers = bearer(shop)
    too_many = {"customers": [{"external_id": f"C-{n}", "name": "x"} for n in range(501)]}
    for payload in ({"customers": []}, {"customers": [{"name": "no id"}]}, {"customers": "nope"}, too_many):
        response = client.post(URL, payload, content_type="application/json", headers=headers)
        assert response.status_code == 400, (payload, response.content)
        assert set(response.json()) == {"code", "message", "field"}
    wrong_type = {"customers": [{"external_id": "C-1", "consent_marketing": "maybe"}]}
    assert client.post(URL, wrong_type, content_type="application/json", headers=headers).status_code == 400
    malformed = client.post(URL, "{not json", content_type="application/json", headers=headers)
    assert malformed.status_code == 400


def test_agents_may_not_import_customers(client, agent, bearer):
    response = client.post(
        URL,
        {"customers": [{"external_id": "C-1", "name": "x"}]},
        content_type="application/json",
        headers=bearer(agent),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission.denied"
    assert not Customer.objects.exists()


def test_list_filters_and_masks_for_agents(client, agent, senior_agent, bearer, admin_user):
    vip = make_customer("王小明", phone="13800138000")
    update_customer(vip, by=admin_user, tier="vip", tags=["复购客户"])
    make_customer("李雷", phone="13900000000")

    rows = client.get(URL, {"tier": "vip"}, headers=bearer(agent)).json()["items"]
    assert [r["name"] for r in rows] == ["王小明"]
    assert rows[0]["phone"] == "138****8000"
    assert rows[0]["masked"] is True
    assert [r["name"] for r in client.get(URL, {"tag": "复购客户"}, headers=bearer(agent)).json()["items"]] == [
        "王小明"
    ]
    assert [r["name"] for r in client.get(URL, {"q": "李"}, headers=bearer(agent)).json()["items"]] == ["李雷"]
    # An exact phone finds the caller without revealing it.
    found = client.get(URL, {"q": "13900000000"}, headers=bearer(agent)).json()["items"]
    assert [r["phone"] for r in found] == ["139****0000"]
    assert client.get(URL, {"tier": "vip"}, headers=bearer(senior_agent)).json()["items"][0]["phone"] == "13800138000"


def test_detail_is_masked_per_role_and_unknown_ids_are_404(client, agent, supervisor, bearer, customer):
    masked = client.get(f"{URL}/{customer.pk}", headers=bearer(agent)).json()
    whole = client.get(f"{URL}/{customer.pk}", headers=bearer(supervisor)).json()
    assert masked["phone"] != customer.phone
    assert "****" in masked["phone"]
    assert "****" in masked["address"]
    assert masked["address"].startswith("上海市")
    assert whole["phone"] == customer.phone
    assert whole["address"] == customer.address

    assert client.get(f"{URL}/999999", headers=bearer(agent)).status_code == 404
    assert client.get(f"{URL}/abc", headers=bearer(agent)).status_code == 400
    assert client.get(f"{URL}/{customer.pk}").status_code == 401


def test_timeline_newest_first(client, agent, bearer, admin_user, customer):
    update_customer(customer, by=admin_user, tier="vip")
    add_identity(customer, Channel.WECHAT, "wx_1", by=admin_user)

    response = client.get(f"{URL}/{customer.pk}/timeline", {"limit": 10}, headers=bearer(agent))

    assert response.status_code == 200
    assert [e["verb"] for e in response.json()["items"]] == ["customer.identity_added", "customer.updated"]
    assert client.get(f"{URL}/{customer.pk}/timeline", {"limit": 0}, headers=bearer(agent)).status_code == 400
    assert client.get(f"{URL}/424242/timeline", headers=bearer(agent)).status_code == 404


def test_session_login_works_too(client, agent, customer):
    client.force_login(agent)
    assert client.get(f"{URL}/{customer.pk}").status_code == 200
