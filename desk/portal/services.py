"""The portal's own writes: sending a one-time login code and trading it for a portal session.

A customer proves who they are with an order number and the phone or email on that order (the
recipient's phone, the customer's phone or email, or one of their identities). Every request
writes a `LoginCode` row, matched or not, so the answer, the resend throttle and the attempt
limit are the same whether the order number exists: the page never tells which part was wrong.

Only hashes are stored. The code leaves the process once, after commit, by email (Django's email
backend) or by the simulated SMS gateway. Each action records one event `portal.<verb>`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from desk.core.errors import ValidationFailed
from desk.core.events import record_event
from desk.customers.models import Channel, Customer, CustomerIdentity
from desk.customers.queries import mask_email, mask_phone
from desk.orders.models import Order
from desk.portal.errors import BadCode, Throttled, TooManyAttempts
from desk.portal.models import CodeChannel, LoginCode, PortalSession, SimulatedSms

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)
MAX_CODES_PER_HOUR = 5  # with 5 attempts each: at most 25 guesses an hour at one order + contact
SESSION_TTL = timedelta(hours=8)
ACTOR = "customer"
_PHONE_NOISE = re.compile(r"[\s\-().]")


@dataclass(frozen=True)
class Contact:
    channel: str  # CodeChannel
    value: str  # normalised: lower-case email, or digits of a mainland phone without +86


def normalise_contact(raw: str) -> Contact:
    raw = (raw or "").strip()
    if "@" in raw:
        return Contact(CodeChannel.EMAIL, raw.lower())
    phone = _PHONE_NOISE.sub("", raw)
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            phone = phone[len(prefix) :]
    if phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    return Contact(CodeChannel.SMS, phone)


def _lookup(order_number: str, contact: Contact) -> str:
    return hashlib.sha256(f"{order_number}|{contact.channel}|{contact.value}".encode()).hexdigest()


def _hash_code(code: str, lookup: str) -> str:
    return salted_hmac("desk.portal.code", f"{lookup}|{code}", algorithm="sha256").hexdigest()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Sending a code -----------------------------------------------------------------------------
def send_login_code(order_number: str, contact: str) -> LoginCode:
    """Send a 6-digit code to the phone or email if it belongs to the order; answer the same either way.

    Raises `Throttled` when a code for the same order number and contact was sent less than 60 s
    ago, or five were sent in the last hour.
    """
    number, who = _parse(order_number, contact)
    lookup = _lookup(number, who)
    now = timezone.now()
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        _check_throttle(lookup, now)
        order = _matching_order(number, who)
        row = LoginCode.objects.create(
            lookup=lookup,
            customer=order.customer if order else None,
            order=order,
            channel=who.channel,
            code_hash=_hash_code(code, lookup),
            created_at=now,
            expires_at=now + CODE_TTL,
        )
        masked = mask_email(who.value) if who.channel == CodeChannel.EMAIL else mask_phone(who.value)
        data = {"channel": who.channel, "to": masked, "matched": order is not None}
        record_event("portal.code_sent", actor_label=ACTOR, subject=row, customer_id=row.customer_id, data=data)
        if order is not None:
            language = order.customer.language or translation.get_language()
            # robust: a mail server that is down is logged, never turned into an answer that differs.
            transaction.on_commit(lambda: _deliver(who, code, number, language), robust=True)
    return row


def _parse(order_number: str, contact: str) -> tuple[str, Contact]:
    number = (order_number or "").strip()
    who = normalise_contact(contact)
    if not number or not who.value:
        raise ValidationFailed(
            _("Enter the order number and the phone number or email address used for it."), code="portal.bad_input"
        )
    if len(number) > 64 or len(who.value) > 200:
        raise ValidationFailed(_("The order number or the contact is too long."), code="portal.bad_input")
    return number, who


def _check_throttle(lookup: str, now: datetime) -> None:
    recent = list(
        LoginCode.objects.select_for_update()
        .filter(lookup=lookup, created_at__gt=now - timedelta(hours=1))
        .order_by("-created_at")
        .values_list("created_at", flat=True)
    )
    if recent and now - recent[0] < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - recent[0])).total_seconds()) + 1
        raise Throttled(_("A code was just sent. You can ask for a new one in %(s)s seconds.") % {"s": wait})
    if len(recent) >= MAX_CODES_PER_HOUR:
        raise Throttled(_("Too many codes were asked for. Try again in an hour."))


def _matching_order(number: str, who: Contact) -> Order | None:
    """The order with this number whose recipient or customer owns the phone or email, if any."""
    orders = list(Order.objects.filter(number=number).select_related("customer").order_by("-placed_at", "-id")[:20])
    if not orders:
        return None
    identity_channel = Channel.EMAIL if who.channel == CodeChannel.EMAIL else Channel.PHONE
    identities = {
        (customer_id, normalise_contact(value).value)
        for customer_id, value in CustomerIdentity.objects.filter(
            customer_id__in=[o.customer_id for o in orders], channel=identity_channel
        ).values_list("customer_id", "value")
    }
    for order in orders:
        if (
            who.value in _contacts_of(order, order.customer, who.channel)
            or (order.customer_id, who.value) in identities
        ):
            return order
    return None


def _contacts_of(order: Order, customer: Customer, channel: str) -> set[str]:
    values = [customer.email] if channel == CodeChannel.EMAIL else [order.recipient_phone, customer.phone]
    return {normalise_contact(v).value for v in values if v}


def _deliver(who: Contact, code: str, order_number: str, language: str) -> None:
    """Runs after commit: the code leaves the process once, by email or the simulated SMS gateway."""
    with translation.override(language):
        text = _("Your after-sales portal code for order %(order)s is %(code)s. It expires in 10 minutes.") % {
            "order": order_number,
            "code": code,
        }
        if who.channel == CodeChannel.EMAIL:
            send_mail(_("Your after-sales portal code"), text, None, [who.value])
        else:
            SimulatedSms.objects.create(phone=who.value, body=text, created_at=timezone.now())


# --- Checking a code --------------------------------------------------------------------------------
def verify_login_code(order_number: str, contact: str, code: str) -> tuple[PortalSession, str]:
    """Trade the latest code for this order number and contact for a portal session.

    Returns the session and its raw token (kept by the caller in the customer's browser session).
    A wrong code counts an attempt (committed even though the call fails); the fifth wrong code
    kills the code.
    """
    number, who = _parse(order_number, contact)
    lookup = _lookup(number, who)
    code = re.sub(r"\s", "", code or "")
    now = timezone.now()
    with transaction.atomic():
        row = LoginCode.objects.select_for_update().filter(lookup=lookup).order_by("-created_at", "-id").first()
        error = _judge(row, code, lookup, now)
        if error is None and row is not None and row.customer_id is not None:
            return _open_session(row, row.customer_id, now)
        if row is not None and error is not None and error.code == BadCode.code and row.used_at is None:
            row.attempts += 1
            row.save(update_fields=["attempts"])
        data = {"reason": error.code if error else BadCode.code, "attempts": row.attempts if row else 0}
        record_event(
            "portal.login_failed",
            actor_label=ACTOR,
            subject=row,
            customer_id=row.customer_id if row else None,
            data=data,
        )
    raise error or BadCode(_("The code is wrong. Check it, or ask for a new one."))


def _judge(row: LoginCode | None, code: str, lookup: str, now: datetime) -> BadCode | TooManyAttempts | None:
    if row is None or row.used_at is not None:
        return BadCode(_("The code is wrong. Check it, or ask for a new one."))
    if row.attempts >= MAX_ATTEMPTS:
        return TooManyAttempts(_("Too many wrong codes. Ask for a new code."))
    if now >= row.expires_at:
        return BadCode(_("The code has expired. Ask for a new one."), code="portal.code_expired")
    if not constant_time_compare(_hash_code(code, lookup), row.code_hash) or row.customer_id is None:
        return BadCode(_("The code is wrong. Check it, or ask for a new one."))
    return None


def _open_session(row: LoginCode, customer_id: int, now: datetime) -> tuple[PortalSession, str]:
    row.used_at = now
    row.save(update_fields=["used_at"])
    token = secrets.token_urlsafe(32)
    session = PortalSession.objects.create(
        customer_id=customer_id, token_hash=hash_token(token), created_at=now, expires_at=now + SESSION_TTL
    )
    record_event(
        "portal.login",
        actor_label=ACTOR,
        subject=session,
        customer_id=customer_id,
        data={"channel": row.channel, "order": row.order_id},
    )
    return session, token


def end_portal_session(session: PortalSession) -> PortalSession:
    """The customer logs out: the session stops working at once."""
    with transaction.atomic():
        now = timezone.now()
        updated = PortalSession.objects.filter(pk=session.pk, ended_at=None).update(ended_at=now)
        if updated:
            session.ended_at = now
            record_event("portal.logout", actor_label=ACTOR, subject=session, customer_id=session.customer_id)
    return session
