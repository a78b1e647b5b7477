"""Load a demo shop: staff in every role, customers, orders, tickets in every state.

Everything is made through the services, as people would, on a simulated clock running over
the past ten days, so histories, SLA timers and the event log are real. Safe to run twice:
it does nothing when the demo staff already exist.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from desk.accounts.models import AssignmentStrategy, Availability, Role, Skill, StaffProfile, Team
from desk.customers.models import Channel, Tier
from desk.demo import catalogue as cat
from desk.tickets import services as tickets
from desk.tickets.models import CannedReply, Priority, RequestType, RoutingRule, Status, Ticket

PASSWORD = "demo-pass-2026"  # noqa: S105  printed for the demo; a real shop creates its own staff
STAFF = [
    # username, role, team code, display name
    ("admin", Role.ADMIN, None, "系统管理员"),
    ("manager", Role.MANAGER, None, "周经理"),
    ("supervisor", Role.SUPERVISOR, "support", "陈主管"),
    ("senior", Role.SENIOR_AGENT, "support", "李高级"),
    ("agent", Role.AGENT, "support", "王客服"),
    ("agent2", Role.AGENT, "support", "赵客服"),
    ("emma", Role.AGENT, "support", "Emma Li"),
    ("vip", Role.SENIOR_AGENT, "vip", "孙专属"),
    ("quality", Role.QUALITY, "quality", "钱质检"),
    ("warehouse", Role.WAREHOUSE, "warehouse", "吴仓管"),
    ("logistics", Role.LOGISTICS, "logistics", "郑物流"),
    ("tech", Role.TECH_SUPPORT, "tech", "冯技术"),
    ("legal", Role.LEGAL, "legal", "褚法务"),
    ("analyst", Role.ANALYST, None, "卫分析"),
]
TEAMS = [
    ("support", "售后客服组", AssignmentStrategy.LEAST_OPEN),
    ("vip", "VIP 专属组", AssignmentStrategy.ROUND_ROBIN),
    ("quality", "质检组", AssignmentStrategy.LEAST_OPEN),
    ("warehouse", "仓储组", AssignmentStrategy.MANUAL),
    ("logistics", "物流组", AssignmentStrategy.LEAST_OPEN),
    ("tech", "技术支持组", AssignmentStrategy.SKILLS),
    ("legal", "法务组", AssignmentStrategy.MANUAL),
]


class SimulatedClock:
    """Moves Django's `timezone.now` so demo history happens over days, not in one second."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    @contextmanager
    def running(self) -> Iterator[None]:
        with mock.patch.object(timezone, "now", self.read):
            yield

    def read(self) -> datetime:
        return self.now


class Command(BaseCommand):
    help = "Load demo data (a shop with staff, customers, orders and tickets) and print the logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        if get_user_model().objects.filter(username="agent").exists():
            self.stdout.write("Demo data already loaded.")
        else:
            self.rng = random.Random(options["seed"])
            self.real_now = timezone.now()
            self.clock = SimulatedClock(self.real_now - timedelta(days=10))
            with self.clock.running(), transaction.atomic():
                self._load()
            self._after_load()
        self._print_logins()

    # --- pieces ----------------------------------------------------------------------------------
    def _load(self) -> None:
        self.teams = self._teams()
        self.staff = self._staff()
        self._routing()
        self._canned()
        self.customers = self._customers()
        self.orders = self._orders()
        self._tickets()
        self._cases()
        self._other_cases()

    def _after_load(self) -> None:
        from desk.sla.services import sweep

        result = sweep()
        self.stdout.write(f"SLA sweep after loading: {result}")

    def _teams(self) -> dict[str, Team]:
        return {code: Team.objects.create(code=code, name=name, assignment_strategy=s) for code, name, s in TEAMS}

    def _staff(self) -> dict[str, Any]:
        User = get_user_model()
        skills = {
            c: Skill.objects.create(code=c, name=n)
            for c, n in [("audio", "音频设备"), ("smart", "智能设备"), ("english", "English")]
        }
        people = {}
        for username, role, team, display in STAFF:
            user = User.objects.create_user(
                username=username,
                password=PASSWORD,
                email=f"{username}@demo-shop.example",
                first_name=display,
                is_staff=role in (Role.ADMIN, Role.MANAGER),
                is_superuser=role == Role.ADMIN,
            )
            StaffProfile.objects.create(user=user, role=role, team=self.teams.get(team or ""), display_name=display)
            people[username] = user
        people["emma"].staff.skills.add(skills["english"])
        people["tech"].staff.skills.add(skills["smart"], skills["audio"])
        people["agent2"].staff.availability = Availability.AWAY
        people["agent2"].staff.save()
        for code, lead in [
            ("support", "supervisor"),
            ("vip", "supervisor"),
            ("quality", "supervisor"),
            ("logistics", "supervisor"),
            ("tech", "supervisor"),
            ("warehouse", "manager"),
            ("legal", "manager"),
        ]:
            Team.objects.filter(code=code).update(lead=people[lead])
        Team.objects.filter(code__in=["vip", "quality", "logistics", "tech"]).update(
            escalation_team=self.teams["support"]
        )
        return people

    def _routing(self) -> None:
        types = {t.code: t for t in RequestType.objects.all()}
        RoutingRule.objects.create(name="VIP 客户", position=10, customer_tier=Tier.VIP, team=self.teams["vip"])
        RoutingRule.objects.create(
            name="高价值 VIP", position=11, customer_tier=Tier.SVIP, team=self.teams["vip"], set_priority=Priority.HIGH
        )
        RoutingRule.objects.create(
            name="物流问题", position=20, request_type=types["logistics"], team=self.teams["logistics"]
        )
        RoutingRule.objects.create(
            name="快递关键词", position=25, keywords="快递,物流,parcel,courier", team=self.teams["logistics"]
        )
        RoutingRule.objects.create(name="使用安装", position=30, request_type=types["usage"], team=self.teams["tech"])
        RoutingRule.objects.create(
            name="投诉升级",
            position=40,
            request_type=types["complaint"],
            team=self.teams["support"],
            set_priority=Priority.HIGH,
        )
        RoutingRule.objects.create(name="默认：售后客服", position=1000, team=self.teams["support"])

    def _canned(self) -> None:
        for title, body, language in cat.CANNED:
            CannedReply.objects.create(title=title, body=body, language=language)

    def _customers(self) -> list[Any]:
        from desk.customers.services import add_identity, resolve_customer, update_customer

        admin = self.staff["admin"]
        customers = []
        names = cat.CUSTOMERS_ZH + cat.CUSTOMERS_EN
        for i, name in enumerate(names):
            phone = f"139{self.rng.randint(10000000, 99999999)}"
            english = name in cat.CUSTOMERS_EN
            customer = resolve_customer(Channel.PHONE, phone, name=name, by=admin)
            add_identity(customer, Channel.EMAIL, f"shopper{i + 1}@example.com", by=admin)
            if not english and i % 3 == 0:
                add_identity(customer, Channel.WECHAT, f"wx_openid_{i:04d}", by=admin)
            tier = Tier.SVIP if i in (0, 41) else Tier.VIP if i % 9 == 4 else Tier.REGULAR
            customer = update_customer(
                customer,
                by=admin,
                tier=tier,
                language="en" if english else "zh-hans",
                preferred_channel=Channel.EMAIL
                if english
                else self.rng.choice([Channel.WECHAT, Channel.PHONE, Channel.WEB]),
                address=f"{self.rng.choice(cat.CITIES)}{self.rng.randint(1, 999)}号"
                if not english
                else "12 Harbour Road, Hong Kong",
                dedicated_agent=self.staff["vip"] if tier == Tier.SVIP else None,
                tags=["复购客户"] if i % 4 == 0 else [],
            )
            customers.append(customer)
        return customers

    def _orders(self) -> list[Any]:
        from desk.orders.services import upsert_order

        admin = self.staff["admin"]
        orders = []
        for n in range(200):
            customer = self.customers[n % len(self.customers)]
            placed = self.clock.now - timedelta(days=self.rng.randint(5, 60), hours=self.rng.randint(0, 23))
            picked = self.rng.sample(cat.PRODUCTS, self.rng.randint(1, 3))
            items = [
                {"sku": s, "name": nm, "model": md, "unit_price": p, "quantity": self.rng.choice([1, 1, 1, 2])}
                for s, nm, md, p in picked
            ]
            total = sum(Decimal(i["unit_price"]) * i["quantity"] for i in items)
            status = self.rng.choice(["delivered", "delivered", "delivered", "shipped", "completed", "paid"])
            shipments = []
            if status != "paid":
                shipped = placed + timedelta(hours=self.rng.randint(4, 30))
                delivered = shipped + timedelta(days=self.rng.randint(1, 4)) if status != "shipped" else None
                events = [
                    {
                        "status": "in_transit",
                        "happened_at": shipped.isoformat(),
                        "location": "上海转运中心",
                        "description": "已揽收",
                    }
                ]
                if delivered:
                    events.append(
                        {
                            "status": "delivered",
                            "happened_at": delivered.isoformat(),
                            "location": "",
                            "description": "已签收",
                        }
                    )
                shipments.append(
                    {
                        "carrier": self.rng.choice(cat.CARRIERS),
                        "tracking_number": f"SF{1300000000 + n * 7919}",
                        "status": "delivered" if delivered else "in_transit",
                        "shipped_at": shipped.isoformat(),
                        "delivered_at": delivered.isoformat() if delivered else None,
                        "events": events,
                    }
                )
            data = {
                "external_id": f"DEMO-{n + 1:05d}",
                "number": f"{20260000 + n * 37:010d}",
                "storefront": self.rng.choice(["own", "tmall", "jd"]),
                "customer_id": customer.pk,
                "status": status,
                "placed_at": placed.isoformat(),
                "paid_at": (placed + timedelta(minutes=3)).isoformat(),
                "total_amount": str(total),
                "shipping_fee": "0.00",
                "payment_method": self.rng.choice(["alipay", "wechat_pay"]),
                "recipient_name": customer.name,
                "recipient_phone": customer.phone,
                "shipping_address": customer.address,
                "items": items,
                "shipments": shipments,
            }
            orders.append(upsert_order(data, by=admin))
        return orders

    def _tickets(self) -> None:
        types = {t.code: t for t in RequestType.objects.all()}
        agents = [self.staff[u] for u in ("agent", "senior", "emma", "supervisor")]
        start = self.clock.now
        for n in range(100):
            self.clock.now = start + timedelta(hours=n * 2.3 + self.rng.random())
            customer = self.customers[(n * 7) % len(self.customers)]
            code, subject, description, lang = cat.TICKET_TEMPLATES[n % len(cat.TICKET_TEMPLATES)]
            orders = [o for o in self.orders if o.customer_id == customer.pk]
            order = orders[0] if orders else None
            ticket = tickets.create_ticket(
                by=None,
                customer=customer,
                subject=subject,
                description=description,
                request_type=types[code],
                channel=self.rng.choice([Channel.WEB, Channel.EMAIL, Channel.WECHAT, Channel.APP, Channel.PHONE]),
                order=order,
                order_items=list(order.items.all()[:1]) if order else [],
                tags=["七天无理由"] if "七天" in subject else [],
            )
            self._play(ticket, n, lang, agents)

    def _play(self, ticket: Any, n: int, lang: str, agents: list[Any]) -> None:
        """Walk the ticket to one of the states, so every queue and filter has something in it."""
        stage = n % 8
        if stage == 0:
            return  # new, untouched
        agent = ticket.assignee or self.rng.choice(agents)
        self.clock.advance(minutes=self.rng.randint(5, 50))
        tickets.accept_ticket(ticket, by=agent)
        if stage == 1:
            return  # open, accepted, no reply yet
        replies = cat.REPLIES_EN if lang == "en" else cat.REPLIES_ZH
        self.clock.advance(minutes=self.rng.randint(5, 40))
        tickets.reply_to_ticket(ticket, self.rng.choice(replies), by=agent, new_status=Status.PENDING_CUSTOMER)
        if stage == 2:
            return
        self.clock.advance(hours=self.rng.randint(1, 20))
        tickets.add_customer_message(
            ticket, "照片已经上传，请查看。" if lang == "zh" else "Photos attached, please check."
        )
        if stage == 3:
            return  # open again, waiting for the agent
        self.clock.advance(minutes=20)
        tickets.add_note(
            ticket, "@senior 请帮忙确认是否在保修期内" if lang == "zh" else "@senior please check warranty", by=agent
        )
        if stage == 4:
            tickets.update_ticket(ticket, by=agent, status=Status.PENDING_INTERNAL)
            return
        self.clock.advance(hours=2)
        tickets.reply_to_ticket(ticket, replies[2], by=agent, proposes_solution=True)
        if stage == 5:
            return
        self.clock.advance(hours=self.rng.randint(2, 30))
        tickets.update_ticket(ticket, by=agent, status=Status.RESOLVED)
        if stage == 7:
            self.clock.advance(days=1)
            tickets.update_ticket(ticket, by=agent, status=Status.CLOSED)

    def _cases(self) -> None:
        """After-sales cases in every state of the refund-only and return flows, on delivered orders."""
        from desk.cases import services as cases
        from desk.cases.models import CaseType, Exclusion, Grade, ProductRule, Reason

        ProductRule.objects.create(sku="CUP-KID", category="baby", exclusions=[Exclusion.UNSEALED_HYGIENE])
        ProductRule.objects.create(sku="VAC-R9", category="appliance", warranty_months=24)
        staff = self.staff
        delivered = [o for o in self.orders if o.status in ("delivered", "completed")]
        plays = [(CaseType.RETURN_REFUND, Reason.NO_REASON, stage) for stage in range(8)] + [
            (CaseType.REFUND_ONLY, Reason.MISSING_PART, stage) for stage in (0, 1, 7)
        ]
        plays += [(CaseType.RETURN_REFUND, Reason.QUALITY, stage) for stage in (1, 3, 5, 7)]
        start = self.real_now - timedelta(days=4)  # each case starts 2 h after the last; its steps follow it
        for n, (case_type, reason, stage) in enumerate(plays):
            order = delivered[n * 3 % len(delivered)]
            item = order.items.order_by("pk").first()
            self.clock.now = start + timedelta(hours=2 * n)
            case = cases.open_case(
                by=None,
                order=order,
                case_type=case_type,
                reason=reason,
                items=[(item, 1)],
                reason_text=cat.CASE_REASONS[n % len(cat.CASE_REASONS)],
                ticket=Ticket.objects.filter(order=order).order_by("pk").first(),  # opened from its ticket, if any
            )
            self._walk_case(cases, case, stage, staff, Grade)

    def _walk_case(self, cases: Any, case: Any, stage: int, staff: dict[str, Any], grade: Any) -> None:
        """Move a case forward `stage` steps, as the people in the shop would."""
        if stage == 0:
            return
        approver = staff["supervisor"] if case.refund_amount > 2000 else staff["senior"]
        self.clock.advance(hours=3)
        exception = "" if case.decision.get("outcome") != "refused" else "老客户，主管特批"
        cases.approve_case(case, by=approver, policy_exception=exception)
        if case.case_type == "refund_only":
            if stage >= 7:
                self.clock.advance(hours=1)
                cases.start_refund(case, by=staff["manager"])
                cases.close_case(case, by=staff["agent"])
            return
        if stage == 1:
            return
        self.clock.advance(minutes=30)
        cases.send_return_instructions(
            case, by=staff["agent"], **cat.RETURN_ADDRESS, packing="请保留原包装及全部配件", shipping_method="顺丰到付"
        )
        if stage == 2:
            return
        self.clock.advance(hours=20)
        cases.record_return_shipment(case, carrier="顺丰速运", tracking_number=f"SFR{7700000 + case.pk}")
        if stage == 3:
            return
        self.clock.advance(days=1)
        cases.receive_return(case, by=staff["warehouse"])
        if stage == 4:
            return
        self.clock.advance(hours=4)
        cases.inspect_return(
            case, by=staff["warehouse"], grade=grade.A, complete=True, original=True, defect=False, human_damage=False
        )
        if stage == 5:
            return
        self.clock.advance(hours=2)
        cases.start_refund(case, by=staff["manager"])
        if stage >= 7:
            cases.close_case(case, by=staff["agent"])

    def _other_cases(self) -> None:
        """One of each other kind: exchanges, a reship, repairs, guidance, compensation, a proposal, a dispute."""
        from django.core.files.uploadedfile import SimpleUploadedFile

        from desk.cases import services as cases
        from desk.cases import services_compensation as compensation
        from desk.cases import services_confirmation as confirmation
        from desk.cases import services_disputes as disputes
        from desk.cases import services_exchange as exchange
        from desk.cases import services_repair as repair
        from desk.cases.models import CaseType, ExchangeMode, Reason, ServiceMode
        from desk.evidence.models import DisputeTier

        staff = self.staff
        self.clock.now = self.real_now - timedelta(days=1)
        for sku, name, model, _price in cat.PRODUCTS:
            exchange.restock_sku(sku, by=staff["warehouse"], quantity=20, name=name, model=model)
        delivered = [o for o in self.orders if o.status in ("delivered", "completed") and not o.cases.exists()]
        vip = [o for o in delivered if o.customer.tier != "regular"]
        picks = iter([o for o in delivered if o not in vip[:1]])

        def open_(case_type: str, reason: str, order: Any = None, **extra: Any) -> Any:
            order = order or next(picks)
            self.clock.advance(hours=1)
            item = order.items.order_by("pk").first()
            return cases.open_case(by=None, order=order, case_type=case_type, reason=reason, items=[(item, 1)], **extra)

        agent, senior, warehouse = staff["agent"], staff["senior"], staff["warehouse"]
        # An exchange returned first (awaiting the return), and a VIP's replacement shipped first.
        case = open_(CaseType.EXCHANGE, Reason.QUALITY, reason_text="表带断裂，想换一条新的。")
        cases.approve_case(case, by=senior, policy_exception="质量问题换货")
        exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST)
        cases.send_return_instructions(case, by=agent, **cat.RETURN_ADDRESS)
        if vip:
            case = open_(CaseType.EXCHANGE, Reason.QUALITY, order=vip[0], reason_text="Screen flickers.")
            cases.approve_case(case, by=senior, policy_exception="VIP 先换后退")
            exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.SHIP_FIRST)
            self.clock.advance(hours=3)
            exchange.ship_replacement(
                case,
                by=warehouse,
                carrier="顺丰速运",
                tracking_number=f"SFX{8800000 + case.pk}",
                return_address=cat.RETURN_ADDRESS["address"],
                return_contact=cat.RETURN_ADDRESS["contact"],
                return_phone=cat.RETURN_ADDRESS["phone"],
            )
        # A missing charger cable reshipped.
        case = open_(CaseType.RESHIP, Reason.MISSING_PART, reason_text="少发了充电线。")
        cases.approve_case(case, by=senior, policy_exception="补寄配件")
        exchange.reserve_replacement(case, by=agent)
        exchange.ship_replacement(case, by=warehouse, carrier="中通快递", tracking_number=f"ZT{5500000 + case.pk}")
        # Repairs: one waiting for diagnosis, one with a fee quoted to the customer.
        case = open_(CaseType.REPAIR, Reason.QUALITY, serial_number="SN2026A0001", service_mode=ServiceMode.MAIL_IN)
        cases.approve_case(case, by=senior, policy_exception="保修期内寄修")
        repair.arrange_repair_service(case, by=agent, address=cat.RETURN_ADDRESS["address"])
        repair.start_diagnosis(case, by=staff["tech"], carrier="顺丰速运", tracking_number=f"SFM{600000 + case.pk}")
        # Technical guidance, resolved.
        case = open_(CaseType.GUIDANCE, Reason.OTHER, reason_text="耳机怎么和第二台手机配对？")
        repair.give_guidance(case, by=agent, text="长按耳机盒按钮 3 秒进入配对模式，再在手机蓝牙里选择设备。")
        repair.resolve_guidance(case, by=agent, note="客户确认已配对成功")
        # A coupon for a late parcel, issued; a proposal waiting for the customer; a dispute with evidence.
        case = open_(CaseType.COMPENSATION, Reason.OTHER, reason_text="快递延误三天。")
        cases.approve_case(case, by=agent)
        grant = compensation.propose_compensation(
            case, by=agent, kind="coupon", amount=Decimal("20"), reason="延误补偿"
        )
        grant = compensation.approve_compensation(grant, by=senior)
        compensation.issue_compensation(grant, by=agent, reference="CPN-2026-0001")
        case = open_(CaseType.RETURN_REFUND, Reason.QUALITY, reason_text="外壳划痕，希望部分退款不退货。")
        confirmation.propose_solution(
            case,
            by=senior,
            kind=CaseType.REFUND_ONLY,
            summary="不退货，补偿部分货款 30 元",
            reason="轻微划痕不影响使用",
            refund_amount=Decimal("30.00"),
        )
        case = open_(CaseType.RETURN_REFUND, Reason.DAMAGED, reason_text="收到时屏幕碎裂，快递不认。")
        disputes.add_evidence(case, SimpleUploadedFile("开箱照片.jpg", b"\xff\xd8\xff demo", "image/jpeg"))
        disputes.open_dispute(case, by=senior, tier=DisputeTier.MINOR, summary="客户与快递对破损责任有争议")

    def _print_logins(self) -> None:
        self.stdout.write(f"\nDemo logins (password for all: {PASSWORD}):")
        for username, role, team, display in STAFF:
            self.stdout.write(f"  {username:<11} {Role(role).label:<20} {team or '':<10} {display}")
