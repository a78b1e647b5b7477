"""The REST API (django-ninja): one NinjaAPI, routers from each area, one error format."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="After-sales desk API", version="1", urls_namespace="api")
