"""The import page: upload a CSV/JSON file, watch its progress (htmx polling), read the error report."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.messages import get_messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from desk.accounts.permissions import authorize, can
from desk.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from desk.orders import imports, queries
from desk.orders.models import ImportKind, ImportStatus

RECENT_JOBS = 20
ACTIVE = (ImportStatus.QUEUED, ImportStatus.RUNNING)


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {
        "can": can,
        "messages": get_messages(request),
        "lang": get_language(),
        "progress_of": queries.progress_of,
        "active": ACTIVE,
        "max_errors": imports.MAX_ERRORS_KEPT,
        "nav": "imports",
        **context,
    }
    return render(request, template, context, status=status)


def importer_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in staff holding order.import; others get the 403 page (and the refusal is recorded)."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            authorize(request.user, "order.import")
            return view(request, *args, **kwargs)
        except Forbidden as error:
            return _render(request, "403.html", {"error": error}, status=403)
        except NotFound as error:
            raise Http404(error.message) from error

    return wrapper


def _page(request: HttpRequest, *, error: DomainError | None = None, kind: str = "", status: int = 200) -> HttpResponse:
    jobs = list(queries.import_jobs_visible_to(request.user)[:RECENT_JOBS])
    context = {"jobs": jobs, "kinds": ImportKind.choices, "error": error, "kind": kind or ImportKind.ORDERS}
    return _render(request, "orders/imports.html", context, status=status)


@require_http_methods(["GET", "POST"])
@importer_page
def imports_page(request: HttpRequest) -> HttpResponse:
    """GET: the form and recent jobs. POST: store the file and queue the job, then show it."""
    if request.method == "GET":
        return _page(request)
    upload = request.FILES.get("file")
    kind = request.POST.get("kind", "")
    if upload is None:
        missing = ValidationFailed(_("Choose a file to upload."), code="import.no_file", field="file")
        return _page(request, error=missing, kind=kind, status=400)
    try:
        job = imports.start_import(upload, kind, by=request.user)
    except DomainError as error:
        return _page(request, error=error, kind=kind, status=error.status)
    return redirect("orders:job", pk=job.pk)


@require_GET
@importer_page
def job_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One job: progress while it runs, then the full row-by-row error report."""
    job = queries.get_import_job_for(request.user, pk)
    return _render(request, "orders/job.html", {"job": job, "full": True})


@require_GET
@importer_page
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress partial htmx polls every 2 s; it stops polling once the job is done or failed."""
    job = queries.get_import_job_for(request.user, pk)
    full = request.GET.get("full") == "1"
    return _render(request, "orders/partials/job_progress.html", {"job": job, "full": full})
