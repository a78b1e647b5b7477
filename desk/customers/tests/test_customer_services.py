"""One customer record across channels; profile changes are permission-checked and recorded."""

from __future__ import annotations

import pytest

from desk.core.errors import Conflict, Forbidden, ValidationFailed
from desk.core.models import Event
from desk.customers.models import Channel, Customer, CustomerIdentity, Tier
from desk.customers.services import (
    add_identity,
    resolve_customer,
    update_customer,
    upsert_customer,
    upsert_customers,
)


def test_same_person_by_phone_then_by_email_after_add_identity_is_one_record(shop):
    by_phone = resolve_customer(Channel.PHONE, "138 0013 8000", name="王小明")
    add_identity(by_phone, Channel.EMAIL, "Wang.XM@Example.com", by=shop)

    by_email = resolve_customer(Channel.EMAIL, "wang.xm@example.com ")

    assert by_email.pk == by_phone.pk
    assert Customer.objects.count() == 1
    by_phone.refresh_from_db()
    assert (by_phone.phone, by_phone.email) == ("13800138000", "wang.xm@example.com")
    verbs = list(Event.objects.filter(customer_id=by_phone.pk).order_by("id").values_list("verb", flat=True))
    assert verbs == ["customer.created", "customer.identity_added"]


def test_a_new_handle_creates_a_customer_with_that_identity(db):
    customer = resolve_customer(Channel.WECHAT, "wx_openid_1", name="李雷", language="zh-hans")

    assert customer.name == "李雷"
    assert list(customer.identities.values_list("channel", "value")) == [("wechat", "wx_openid_1")]
    assert customer.email == ""
    assert customer.phone == ""
    assert resolve_customer(Channel.WECHAT, "wx_openid_1").pk == customer.pk


def test_email_identity_fills_the_customer_email(db):
    customer = resolve_customer(Channel.EMAIL, "Amy@Shop.example")
    assert customer.email == "amy@shop.example"
    assert customer.name == "amy@shop.example"


def test_bad_handles_are_field_errors(db):
    with pytest.raises(ValidationFailed) as bad_email:
        resolve_customer(Channel.EMAIL, "not-an-email")
    assert bad_email.value.field == "email"
    with pytest.raises(ValidationFailed) as bad_channel:
        resolve_customer("fax", "123")
    assert bad_channel.value.field == "channel"
    with pytest.raises(ValidationFailed):
        resolve_customer(Channel.PHONE, "call me maybe")
    assert Customer.objects.count() == 0


def test_moving_an_identity_from_another_customer_is_a_conflict(shop):
    first = resolve_customer(Channel.PHONE, "13800138000")
    second = resolve_customer(Channel.EMAIL, "other@example.com")

    with pytest.raises(Conflict) as error:
        add_identity(second, Channel.PHONE, "13800138000", by=shop)

    assert error.value.code == "customer.identity_taken"
    assert CustomerIdentity.objects.get(channel="phone").customer_id == first.pk


def test_adding_an_identity_twice_is_harmless(shop):
    customer = resolve_customer(Channel.PHONE, "13800138000")
    first = add_identity(customer, Channel.APP, "u-42", by=shop)
    again = add_identity(customer, Channel.APP, "u-42", by=shop)
    assert first.pk == again.pk
    assert Event.objects.filter(verb="customer.identity_added").count() == 1


def test_an_agent_may_not_add_identities_and_the_refusal_is_recorded(agent):
    customer = resolve_customer(Channel.PHONE, "13800138000")
    with pytest.raises(Forbidden):
        add_identity(customer, Channel.EMAIL, "x@example.com", by=agent)
    assert Event.objects.filter(verb="permission.denied", actor=agent).exists()
    assert not customer.identities.filter(channel="email").exists()


def test_update_customer_changes_tier_tags_consent_and_dedicated_agent(shop, senior_agent):
    customer = resolve_customer(Channel.PHONE, "13800138000", name="王小明")

    update_customer(
        customer,
        by=shop,
        tier=Tier.VIP,
        tags=["复购客户", "VIP"],
        preferred_channel=Channel.WECHAT,
        consent_marketing=True,
        dedicated_agent=senior_agent,
    )

    customer.refresh_from_db()
    assert customer.tier == "vip"
    assert customer.preferred_channel == "wechat"
    assert customer.consent_marketing
    assert customer.dedicated_agent == senior_agent
    assert sorted(customer.tags.values_list("name", flat=True)) == ["VIP", "复购客户"]
    event = Event.objects.get(verb="customer.updated")
    assert event.customer_id == customer.pk
    assert event.before["tier"] == "regular"
    assert event.after["tier"] == "vip"
    assert event.after["dedicated_agent"] == senior_agent.pk


def test_update_customer_refuses_unknown_fields_and_values(shop):
    customer = resolve_customer(Channel.PHONE, "13800138000")
    with pytest.raises(ValidationFailed) as unknown:
        update_customer(customer, by=shop, shoe_size=42)
    assert unknown.value.field == "shoe_size"
    with pytest.raises(ValidationFailed) as tier:
        update_customer(customer, by=shop, tier="platinum")
    assert tier.value.field == "tier"
    with pytest.raises(ValidationFailed) as dedicated:
        update_customer(customer, by=shop, dedicated_agent=999999)
    assert dedicated.value.field == "dedicated_agent"


def test_an_update_that_changes_nothing_records_nothing(shop):
    customer = resolve_customer(Channel.PHONE, "13800138000", name="王小明")
    update_customer(customer, by=shop, name="王小明")
    assert not Event.objects.filter(verb="customer.updated").exists()


def test_agents_may_not_edit_customers(agent):
    customer = resolve_customer(Channel.PHONE, "13800138000")
    with pytest.raises(Forbidden):
        update_customer(customer, by=agent, tier=Tier.VIP)
    customer.refresh_from_db()
    assert customer.tier == Tier.REGULAR


def test_upsert_customer_by_external_id_is_idempotent(shop):
    data = {"external_id": "C-1", "name": "Amy", "phone": "13800138001", "tier": "vip", "tags": "a;b"}

    first = upsert_customer(data, by=shop)
    second = upsert_customer(data, by=shop)

    assert first.pk == second.pk
    assert Customer.objects.count() == 1
    assert Event.objects.filter(verb="customer.created", customer_id=first.pk).count() == 1
    assert not Event.objects.filter(verb="customer.updated").exists()
    # The phone became an identity: the same person calling in is found.
    assert resolve_customer(Channel.PHONE, "13800138001").pk == first.pk

    upsert_customer({"external_id": "C-1", "tier": "svip"}, by=shop)
    first.refresh_from_db()
    assert first.tier == "svip"
    assert first.name == "Amy"
    assert Event.objects.get(verb="customer.updated").after == {"tier": "svip"}


def test_upsert_customers_reports_bad_rows_and_keeps_good_ones(manager):
    result = upsert_customers(
        [
            {"external_id": "C-1", "name": "Amy"},
            {"external_id": "C-2", "name": "Bob", "email": "nope"},
            {"external_id": "", "name": "Nobody"},
            {"external_id": "C-3"},
        ],
        by=manager,
    )

    assert [r.action for r in result.results] == ["created", "failed", "failed", "failed"]
    assert [r.row for r in result.failed] == [2, 3, 4]
    assert [r.error["field"] for r in result.failed] == ["email", "external_id", "name"]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["C-1"]


def test_upsert_customer_with_an_identity_held_by_someone_else_writes_nothing(shop):
    resolve_customer(Channel.WECHAT, "wx_1")
    result = upsert_customers(
        [{"external_id": "C-9", "name": "Eve", "identities": [{"channel": "wechat", "value": "wx_1"}]}], by=shop
    )
    assert result.failed[0].error["code"] == "customer.identity_taken"
    assert not Customer.objects.filter(external_id="C-9").exists()
