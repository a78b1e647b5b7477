"""The REST API (django-ninja): one NinjaAPI, routers from each area, one error format.

Served under /api/: the OpenAPI document at /api/openapi.json, interactive docs at /api/docs.
Every operation needs a bearer token or a logged-in browser session (with CSRF for writes).
"""

from __future__ import annotations

from ninja import NinjaAPI

from desk.accounts.api import api_auth
from desk.accounts.api import router as tokens_router
from desk.accounts.api_audit import router as events_router
from desk.cases.api import router as cases_router
from desk.cases.api_notices import router as notices_router
from desk.cases.api_stock import router as stock_router
from desk.cases.api_tracking import router as tracking_router
from desk.cases.api_workflows import router as case_workflows_router
from desk.core import api as core_api
from desk.customers.api import router as customers_router
from desk.orders.api import imports_router
from desk.orders.api import router as orders_router
from desk.sla.api import router as sla_router
from desk.tickets.api import router as tickets_router
from desk.webhooks.api import router as webhooks_router

api = NinjaAPI(
    title="After-sales desk API",
    version="1",
    urls_namespace="api",
    auth=api_auth,
    parser=core_api.StrictJsonParser(),
    description=(
        "Authenticate with `Authorization: Bearer <token>` (issue one with `manage.py issue_token`). "
        'Every error answers `{"code", "message", "field"}` with a 4xx status.'
    ),
)
core_api.install(api)

api.add_router("", tickets_router)
api.add_router("", sla_router)  # a ticket's targets and their attainment
api.add_router("", events_router)
api.add_router("", webhooks_router)
api.add_router("", tokens_router)
# Customers and orders (import) register their routers here, one line each.
api.add_router("/customers", customers_router)
api.add_router("/orders", orders_router)
api.add_router("/imports", imports_router)
api.add_router("/cases", cases_router)
api.add_router("/cases", case_workflows_router)  # exchange, repair, compensation, disputes ...
api.add_router("/tracking", tracking_router)  # carriers' scans of shipments, replacements and returns
api.add_router("/notices", notices_router)  # the customer-notice outbox of channel integrations
api.add_router("/stock", stock_router)  # stock levels, goods arriving, returns back on sale
