"""The permission service: grants as data, amount limits per role, and a grant edit taking effect at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.accounts.models import Role, RoleGrant
from desk.accounts.permissions import authorize, can, grants_for
from desk.core.errors import Forbidden
from desk.core.models import Event
from desk.core.testing import make_staff

# The seeded limits (DEFAULT_GRANTS); None is no limit.
LIMITS = [
    (Role.AGENT, "refund.approve", Decimal("200")),
    (Role.AGENT, "compensation.approve", Decimal("20")),
    (Role.SENIOR_AGENT, "refund.approve", Decimal("2000")),
    (Role.SENIOR_AGENT, "compensation.approve", Decimal("200")),
    (Role.SUPERVISOR, "refund.approve", Decimal("10000")),
    (Role.SUPERVISOR, "compensation.approve", Decimal("1000")),
    (Role.MANAGER, "refund.approve", None),
    (Role.MANAGER, "compensation.approve", None),
]


@pytest.mark.parametrize(("role", "action", "limit"), LIMITS)
def test_approval_limit_per_role(db, role, action, limit):
    user = make_staff(f"u-{role}", role)
    if limit is None:
        assert can(user, action, amount=Decimal("99999999"))
        return
    assert can(user, action, amount=limit)
    assert not can(user, action, amount=limit + Decimal("0.01"))
    with pytest.raises(Forbidden) as refused:
        authorize(user, action, amount=limit + 1)
    assert refused.value.code == "permission.over_limit"
    denied = Event.objects.get(verb="permission.denied", actor=user)
    assert denied.data == {"action": action, "amount": str(limit + 1), "role": role}


def test_a_role_without_the_grant_is_denied_not_over_limit(db):
    clerk = make_staff("clerk", Role.WAREHOUSE)
    assert not can(clerk, "refund.approve", amount=Decimal("1"))
    with pytest.raises(Forbidden) as refused:
        authorize(clerk, "refund.approve", amount=Decimal("1"))
    assert refused.value.code == "permission.denied"


def test_a_changed_limit_takes_effect_at_once(agent):
    assert can(agent, "refund.approve", amount=Decimal("150"))  # read, and now cached
    grant = RoleGrant.objects.get(role=Role.AGENT, action="refund.approve")
    grant.limit_amount = Decimal("100")
    grant.save()
    assert not can(agent, "refund.approve", amount=Decimal("150"))
    assert can(agent, "refund.approve", amount=Decimal("100"))


def test_a_removed_or_added_grant_takes_effect_at_once(agent):
    assert can(agent, "ticket.merge")
    assert not can(agent, "ticket.assign")
    RoleGrant.objects.get(role=Role.AGENT, action="ticket.merge").delete()
    RoleGrant.objects.create(role=Role.AGENT, action="ticket.assign")
    assert not can(agent, "ticket.merge")
    assert can(agent, "ticket.assign")


def test_the_grants_are_cached_and_a_save_drops_the_cache(agent):
    """A write that skips the model's signals is not seen (the cache holds): the signal is what
    makes edits visible, so the test above cannot pass by reading the table every time."""
    assert grants_for(Role.AGENT)["refund.approve"] == Decimal("200")
    RoleGrant.objects.filter(role=Role.AGENT, action="refund.approve").update(limit_amount=Decimal("50"))
    assert can(agent, "refund.approve", amount=Decimal("150"))  # still the cached limit
    RoleGrant.objects.get(role=Role.AGENT, action="refund.approve").save()  # what the admin and services do
    assert not can(agent, "refund.approve", amount=Decimal("150"))
    assert grants_for(Role.AGENT)["refund.approve"] == Decimal("50")


def test_an_edit_of_another_role_leaves_this_role_alone(agent, senior_agent):
    grant = RoleGrant.objects.get(role=Role.SENIOR_AGENT, action="refund.approve")
    grant.limit_amount = Decimal("10")
    grant.save()
    assert can(agent, "refund.approve", amount=Decimal("200"))
    assert not can(senior_agent, "refund.approve", amount=Decimal("200"))


def test_inactive_or_anonymous_users_may_do_nothing(agent):
    from django.contrib.auth.models import AnonymousUser

    assert not can(AnonymousUser(), "ticket.create")
    agent.is_active = False
    assert not can(agent, "ticket.create")
