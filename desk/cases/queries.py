"""Permission-scoped reads of after-sales cases and refunds: views and API handlers read only through these.

Lists are newest first and paged by key (`before=<id>`), never counted: at a million cases a
COUNT or a deep OFFSET costs more than the page itself. Each filter is served by an index
(see the model's Meta): the state and its deadline, the tracking number, the order, the customer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db.models import BooleanField, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from desk.accounts.permissions import authorize, can, grants_for, role_of
from desk.cases.models import (
    CASE_PREFIX,
    FINISHED_CASE_STATES,
    AfterSalesCase,
    CaseItem,
    CaseState,
    CaseType,
    CompensationGrant,
    CompensationKind,
    CustomerNotice,
    Refund,
    RefundStatus,
    RepairJob,
    ReplacementShipment,
    ShippingInsuranceClaim,
    Stock,
)
from desk.core.errors import NotFound
from desk.core.models import Event
from desk.core.prepared import Prepared
from desk.customers.models import Customer, CustomerIdentity
from desk.evidence.models import Dispute, EvidenceFile, SolutionProposal
from desk.orders.models import Order

# Who may read cases: anyone who may act on one (agents, warehouse, finance, leads).
VIEW_ACTIONS = (
    "case.create", "case.handle", "case.approve", "case.inspect", "refund.execute",
    "case.diagnose", "stock.manage", "case.dispute", "case.legal",
)  # fmt: skip
# The one deadline that runs in each state; a case is overdue when it has passed.
DEADLINES: dict[str, str] = {
    CaseState.REQUESTED: "answer_due_at",
    CaseState.APPROVED: "ship_due_at",
    CaseState.AWAITING_RETURN: "ship_due_at",
    CaseState.RETURNING: "receive_due_at",
    CaseState.RECEIVED: "refund_due_at",
    CaseState.INSPECTED: "refund_due_at",
    CaseState.REFUNDING: "refund_due_at",
    CaseState.DIAGNOSING: "diagnosis_due_at",
}
SEARCH_LIMIT = 200  # orders or customers one search term may stand for
TIMELINE_SIZE = 100
# What hangs off a case and has its own actions on the case page.
SUBJECT_MODELS: dict[str, Any] = {
    "grant": CompensationGrant,
    "dispute": Dispute,
    "evidence": EvidenceFile,
    "proposal": SolutionProposal,
    "claim": ShippingInsuranceClaim,
}
_NUMBER = re.compile(rf"^{CASE_PREFIX}(\d{{1,12}})$", re.IGNORECASE)
LIST_FIELDS = (
    "case_type", "state", "reason", "currency", "refund_amount", "created_at", "updated_at",
    "answer_due_at", "ship_due_at", "receive_due_at", "refund_due_at", "diagnosis_due_at", "return_tracking_number",
    "customer__name", "customer__tier", "order__number",
)  # fmt: skip
# The case list's columns, read as tuples (no model instances): what `CaseRow` in views.py is built from.
ROW_COLUMNS = (
    "id", "case_type", "state", "reason", "currency", "refund_amount", "created_at",
    "customer__name", "customer__tier", "order__number", *dict.fromkeys(DEADLINES.values()),
)  # fmt: skip


def may_view_cases(user: Any) -> bool:
    """`can` for any of VIEW_ACTIONS, with the role's grants read once instead of once per action."""
    role = role_of(user)
    if role is None:
        return False
    grants = grants_for(role)
    return any(action in grants for action in VIEW_ACTIONS)


def cases_visible_to(user: Any) -> QuerySet[AfterSalesCase]:
    """Every case for users who may act on cases, none for anyone else; related rows joined once."""
    base = AfterSalesCase.objects.select_related("customer", "order", "policy_version__policy", "ticket")
    return base if may_view_cases(user) else base.none()


def pk_from_number(value: str | int) -> int | None:
    """`AS0000123`, `as123` or `123` → 123; anything else → None."""
    text = str(value).strip()
    if text.isdecimal():  # not isdigit(): "¹" is a digit that int() refuses (a 500 before)
        return int(text)
    match = _NUMBER.match(text)
    return int(match.group(1)) if match else None


def get_case_for(user: Any, number_or_pk: str | int, *, subject_flags: bool = False) -> AfterSalesCase:
    """The case by number (AS0000123) or id, or NotFound: outsiders cannot tell it exists.

    `subject_flags` adds `has_grant`, `has_dispute`, ... in the same query, so the case page reads
    only the grants, disputes, evidence and proposals that exist.
    """
    qs = cases_visible_to(user)
    if subject_flags:
        qs = qs.annotate(**_flags(SUBJECT_MODELS))
    return _one(qs, number_or_pk)


# What the case page shows of the case's relations, read as annotations beside the case's own
# columns: select_related + only() of the customer, order, ticket and policy took twice the Python calls.
# Actions load the whole case.
SHOWN_RELATED = {
    "customer_name": "customer__name",
    "order_number": "order__number",
    "policy_name": "policy_version__policy__name",
    "policy_version_number": "policy_version__version",
    "policy_effective_from": "policy_version__effective_from",
}


def get_case_shown(user: Any, number_or_pk: str | int) -> AfterSalesCase:
    """The case for display only: its own columns, the `SHOWN_RELATED` values, and `has_<kind>` flags
    for its grants, disputes, evidence, proposals, claims and refunds (the page reads only those that exist).
    Prepared once per process (`desk.core.prepared`): the page's reads cost more to compile than to run."""
    pk = pk_from_number(number_or_pk)
    found = _CASE_SHOWN(pk) if pk and may_view_cases(user) else []
    if not found:
        raise NotFound(f"No case {number_or_pk}.", code="case.not_found")
    return found[0]


def _case_shown(pk: int) -> QuerySet[AfterSalesCase]:
    relations = {name: F(path) for name, path in SHOWN_RELATED.items()}
    flags = _flags({**SUBJECT_MODELS, "refund": Refund})
    return AfterSalesCase.objects.annotate(**relations, **flags).filter(pk=pk).order_by()[:1]


_CASE_SHOWN: Prepared[AfterSalesCase] = Prepared(_case_shown)


def _one(qs: QuerySet[AfterSalesCase], number_or_pk: str | int) -> AfterSalesCase:
    pk = pk_from_number(number_or_pk)
    found = list(qs.filter(pk=pk)[:1]) if pk else []  # not first(): its ORDER BY costs a compile step
    case = found[0] if found else None
    if case is None:
        raise NotFound(f"No case {number_or_pk}.", code="case.not_found")
    return case


def _flags(models: dict[str, Any]) -> dict[str, RawSQL]:
    """`has_<kind>`: whether any row of the model points at the case. Written out (constants only, no
    input): five `Exists(...)` subqueries cost 4,200 Python calls to build and compile, these 600."""
    case_table = AfterSalesCase._meta.db_table
    flags = {}
    for kind, model in models.items():
        table, column = model._meta.db_table, model._meta.get_field("case").column
        sql = f'EXISTS (SELECT 1 FROM "{table}" WHERE "{table}"."{column}" = "{case_table}"."id")'  # noqa: S608
        flags[f"has_{kind}"] = RawSQL(sql, (), output_field=BooleanField())  # noqa: S611 (model names only)
    return flags


@dataclass(frozen=True)
class CaseFilters:
    """What the case list can be narrowed by; empty fields do not filter."""

    state: str = ""
    case_type: str = ""
    reason: str = ""
    overdue: bool = False
    team: int | None = None  # the linked ticket's team
    assignee: int | None = None  # the linked ticket's assignee
    q: str = ""  # case number, order number, tracking number (return or delivery), customer name or phone
    open_only: bool = False


def filter_cases(qs: QuerySet[AfterSalesCase], filters: CaseFilters, *, now: datetime | None = None) -> QuerySet[Any]:
    """Narrow an already permission-scoped queryset; newest first."""
    simple = {"state": filters.state, "case_type": filters.case_type, "reason": filters.reason}
    qs = qs.filter(**{k: v for k, v in simple.items() if v})
    if filters.open_only and not filters.state:
        qs = qs.exclude(state__in=FINISHED_CASE_STATES)
    if filters.overdue:
        qs = qs.filter(overdue_q(now or timezone.now()))
    if filters.team is not None:
        qs = qs.filter(ticket__team_id=filters.team)
    if filters.assignee is not None:
        qs = qs.filter(ticket__assignee_id=filters.assignee)
    if filters.q.strip():
        qs = qs.filter(search_q(filters.q))
    return qs.order_by("-id")


def overdue_q(now: datetime) -> Q:
    """Cases whose running deadline has passed: one (state, deadline) index range per state."""
    query = Q()
    for state, column in DEADLINES.items():
        query |= Q(state=state, **{f"{column}__lt": now})
    return query


def search_q(term: str) -> Q:
    """One box for everything staff type: the orders and customers are looked up first (a few
    indexed queries), so the case query is an OR of indexed columns, not a join over a million rows."""
    term = term.strip()
    query = Q(return_tracking_number=term)
    if (pk := pk_from_number(term)) is not None and not term.isdigit():
        query |= Q(pk=pk)
    orders = Order.objects.filter(Q(number=term) | Q(shipments__tracking_number=term)).values_list("pk", flat=True)
    order_ids = list(orders.distinct()[:SEARCH_LIMIT])
    if order_ids:
        query |= Q(order_id__in=order_ids)
    customers = Customer.objects.filter(Q(name=term) | Q(phone=term) | Q(email__iexact=term))
    customer_ids = list(customers.values_list("pk", flat=True)[:SEARCH_LIMIT])
    if customer_ids:
        query |= Q(customer_id__in=customer_ids)
    return query


def tracking_q(number: str) -> Q:
    """The cases a parcel belongs to, by its exact tracking number: a return, a repair unit on its way in
    or back, or a replacement sent out (each column indexed; the last two read as id subqueries)."""
    number = number.strip()
    repairs = RepairJob.objects.filter(Q(inbound_tracking_number=number) | Q(back_tracking_number=number))
    shipped = ReplacementShipment.objects.filter(tracking_number=number)
    return Q(return_tracking_number=number) | Q(pk__in=repairs.values("case_id")) | Q(pk__in=shipped.values("case_id"))


def case_rows(qs: QuerySet[AfterSalesCase], *, before: int | None, size: int) -> list[tuple[Any, ...]]:
    """`size + 1` rows older than `before` (the extra row says whether there is a next page), as
    `ROW_COLUMNS` tuples: building 50 cases with their customer and order cost more than the query."""
    if before is not None:
        qs = qs.filter(pk__lt=before)
    return list(qs.select_related(None).values_list(*ROW_COLUMNS)[: size + 1])


def running_deadline(case: AfterSalesCase) -> datetime | None:
    column = DEADLINES.get(case.state)
    return getattr(case, column) if column else None


def is_overdue(case: AfterSalesCase, now: datetime) -> bool:
    due = running_deadline(case)
    return due is not None and due < now


# --- The case page -------------------------------------------------------------------------------
class ItemRow(NamedTuple):
    """What the case page shows of one item of the case and the order line it comes from."""

    name: str
    sku: str
    quantity: int  # units in the case
    ordered: int  # units on the order line
    amount: Decimal  # the item's share of the refund


def case_items(case: AfterSalesCase) -> list[ItemRow]:
    return [ItemRow._make(row) for row in _CASE_ITEMS(case.pk)]


_CASE_ITEMS: Prepared[tuple[Any, ...]] = Prepared(
    lambda case_id: (
        CaseItem.objects.filter(case_id=case_id)
        .order_by("pk")
        .values_list("order_item__name", "order_item__sku", "quantity", "order_item__quantity", "amount")
    )
)


def case_refunds(case: AfterSalesCase) -> list[Refund]:
    if not getattr(case, "has_refund", True):  # flagged absent by get_case_shown: no query
        return []
    return list(case.refunds.prefetch_related("entries").order_by("pk"))


class TimelineEntry(NamedTuple):
    """What the case page shows of one event (no model instances, no actor join: the label is stored)."""

    created_at: datetime
    actor_label: str
    verb: str
    before: dict[str, Any]
    after: dict[str, Any]
    data: dict[str, Any]


def case_timeline(case: AfterSalesCase, limit: int = TIMELINE_SIZE) -> list[TimelineEntry]:
    """The case's events, newest first (the subject index serves it)."""
    return [TimelineEntry._make(row) for row in _TIMELINE(case.pk, variant=limit)]


_TIMELINE: Prepared[tuple[Any, ...]] = Prepared(
    lambda case_id, variant: (
        Event.objects.filter(subject_type=AfterSalesCase._meta.model_name, subject_id=case_id)
        .order_by("-id")
        .values_list(*TimelineEntry._fields)[:variant]
    )
)


# --- Warehouse and finance -----------------------------------------------------------------------
WAREHOUSE_STATES = (CaseState.AWAITING_RETURN, CaseState.RETURNING, CaseState.RECEIVED)


def find_returns(user: Any, term: str, *, limit: int = 20) -> list[AfterSalesCase]:
    """The cases a scanned or typed tracking number, case number or order number belongs to."""
    if not term.strip():
        return []
    qs = cases_visible_to(user).filter(search_q(term)).order_by("-id")
    return list(qs.prefetch_related(Prefetch("items", CaseItem.objects.select_related("order_item")))[:limit])


def returns_waiting(user: Any, state: str, *, limit: int = 50) -> list[AfterSalesCase]:
    """The oldest cases waiting for the warehouse in `state` (returning: on the way; received: to inspect)."""
    qs = cases_visible_to(user).filter(state=state).order_by("pk")
    return list(qs.select_related(None).select_related("customer", "order").only(*LIST_FIELDS)[:limit])


REFUND_VIEWS = {
    "sent": Q(status=RefundStatus.SENT),
    "failed": Q(status=RefundStatus.FAILED),
    "manual": Q(status=RefundStatus.SENT, provider="manual"),
    "confirmed": Q(status=RefundStatus.CONFIRMED),
    "all": Q(),
}


def stock_visible_to(user: Any, *, sku: str | None = None, q: str | None = None) -> QuerySet[Stock]:
    """Stock rows by SKU for the warehouse and leads (`stock.manage` or `case.inspect`); anyone else is
    refused (403), as on the stock page. `sku` is exact; `q` searches SKU, name and model."""
    if not can(user, "stock.manage"):
        authorize(user, "case.inspect")
    rows = Stock.objects.order_by("sku")
    if sku:
        rows = rows.filter(sku=sku.strip())
    if q and q.strip():
        term = q.strip()
        rows = rows.filter(Q(sku__icontains=term) | Q(name__icontains=term) | Q(model__icontains=term))
    return rows


def refunds_visible_to(user: Any) -> QuerySet[Refund]:
    """Every refund for finance (refund.execute), none for anyone else."""
    base = Refund.objects.select_related("case", "order")
    return base if can(user, "refund.execute") else base.none()


def refund_page(user: Any, view: str, *, before: int | None, size: int) -> list[Refund]:
    qs = refunds_visible_to(user).filter(REFUND_VIEWS.get(view, Q())).order_by("-id")
    if before is not None:
        qs = qs.filter(pk__lt=before)
    return list(qs.prefetch_related("entries")[: size + 1])


def get_refund_for(user: Any, refund_number: str) -> Refund:
    refund = refunds_visible_to(user).filter(refund_number=refund_number.strip()).first()
    if refund is None:
        raise NotFound(f"No refund {refund_number}.", code="refund.not_found")
    return refund


def refunds_ready(user: Any, *, limit: int = 50) -> list[AfterSalesCase]:
    """Cases whose refund can start now, oldest first: inspected returns and approved refund-only requests.

    One query per state, each walking the state index in id order; an OR of the two would make the
    database walk every case by id instead.
    """
    if not can(user, "refund.execute"):
        return []
    base = AfterSalesCase.objects.select_related("customer", "order").only(*LIST_FIELDS).order_by("pk")
    held = Q(inspection__has_key="hold") & ~Q(inspection__has_key="settled")  # an agent decides first
    inspected = list(base.filter(state=CaseState.INSPECTED).exclude(held)[:limit])
    approved = list(base.filter(state=CaseState.APPROVED, case_type=CaseType.REFUND_ONLY)[:limit])
    return sorted(inspected + approved, key=lambda c: c.pk)[:limit]


# --- What hangs off a case: compensation grants, disputes, evidence, solution proposals ------------
KINDS_CACHE_KEY = "desk:cases:compensation_kinds:v1"


def compensation_kinds() -> list[tuple[str, str]]:
    """(code, name) of the active compensation kinds, cached for a minute (the catalogue changes rarely)."""
    kinds = cache.get(KINDS_CACHE_KEY)
    if kinds is None:
        kinds = list(CompensationKind.objects.filter(active=True).values_list("code", "name"))
        cache.set(KINDS_CACHE_KEY, kinds, 60)
    return kinds


def case_subjects(case: AfterSalesCase) -> dict[str, list[Any]]:
    """Grants, disputes, evidence files and proposals of one case, oldest first (one query each)."""
    found: dict[str, list[Any]] = {}
    for kind in SUBJECT_MODELS:
        if not getattr(case, f"has_{kind}", True):  # flagged absent by get_case_for: no query
            found[kind] = []
            continue
        found[kind] = _SUBJECTS(case.pk, variant=kind)
    return found


def _subjects(case_id: int, variant: str) -> QuerySet[Any]:
    qs = SUBJECT_MODELS[variant].objects.filter(case_id=case_id).order_by("pk")
    return qs.select_related("kind") if variant == "grant" else qs


_SUBJECTS: Prepared[Any] = Prepared(_subjects)


def get_subject(case: AfterSalesCase, kind: str, pk: int) -> Any:
    """One grant, dispute, evidence file or proposal of this case, or NotFound."""
    model = SUBJECT_MODELS.get(kind)
    found = model.objects.filter(case=case, pk=pk).first() if model else None
    if found is None:
        raise NotFound(f"No {kind} {pk} on case {case.number}.", code="case.subject_not_found")
    return found


# --- The customer-notice outbox (channel integrations, /api/notices) -------------------------------
NOTICE_COLUMNS = (
    "id", "case_id", "customer_id", "channel", "address", "kind", "is_result", "language", "subject", "body",
    "status", "attempts", "last_error", "created_at", "next_attempt_at", "claimed_until", "sent_at", "due_at",
)  # fmt: skip


def notice_outbox(
    user: Any, channel: str, *, status: str | None = None, after: int = 0, limit: int = 50
) -> list[dict[str, Any]]:
    """A channel's notices oldest first, those after id `after`: paged by key, never counted, as a
    busy outbox keeps every delivered notice. Needs notice.deliver: the rows carry customers'
    addresses and messages (403 otherwise)."""
    authorize(user, "notice.deliver")
    rows = _notice_rows().filter(channel=channel, pk__gt=after)
    if status:
        rows = rows.filter(status=status)
    return list(rows.order_by("pk")[:limit])


def notices_by_id(user: Any, ids: list[int]) -> list[dict[str, Any]]:
    """These notices (just claimed or reported on), oldest first; needs notice.deliver."""
    authorize(user, "notice.deliver")
    return list(_notice_rows().filter(pk__in=ids).order_by("pk")) if ids else []


def _notice_rows() -> QuerySet[Any]:
    """Notice rows as dicts; `address` is the recipient written with the notice, or, when the desk had
    none then, the customer's oldest identity on the channel now (a WeChat user who wrote in since)."""
    identity = (
        CustomerIdentity.objects.filter(customer_id=OuterRef("case__customer_id"), channel=OuterRef("channel"))
        .order_by("pk")
        .values("value")[:1]
    )
    address = Coalesce(NullIf(F("recipient"), Value("")), Subquery(identity), Value(""))
    return CustomerNotice.objects.annotate(customer_id=F("case__customer_id"), address=address).values(*NOTICE_COLUMNS)
