"""Login, logout, availability and the notification inbox."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from desk.accounts import services
from desk.accounts.forms import AvailabilityForm, MarkReadForm
from desk.accounts.models import Notification
from desk.accounts.permissions import can
from desk.core.errors import DomainError

INBOX_SIZE = 100


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {"can": can, "messages": get_messages(request), **context}
    return render(request, template, context, status=status)


def _safe_next(request: HttpRequest, target: str | None) -> str:
    """Only redirect back inside this site (no open redirects through ?next=)."""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return str(settings.LOGIN_REDIRECT_URL)


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Django's AuthenticationForm rendered by Jinja; django-axes counts the failures."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    form = AuthenticationForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.get_user())
        return redirect(_safe_next(request, next_url))
    return _render(request, "accounts/login.html", {"form": form, "next": next_url})


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes calls this (AXES_LOCKOUT_CALLABLE) once the failure limit is reached."""
    hours = float(getattr(settings, "AXES_COOLOFF_TIME", 0) or 0)
    context = {"minutes": int(hours * 60), "form": None, "next": "", "locked": True}
    return _render(request, "accounts/login.html", context, status=429)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:login")


@login_required
@require_POST
def availability(request: HttpRequest) -> HttpResponse:
    """Switch between available and away; new tickets skip away agents."""
    form = AvailabilityForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose available or away."))
    else:
        try:
            services.set_availability(request.user, form.cleaned_data["availability"], by=request.user)
        except DomainError as error:
            messages.error(request, error.message)
    return redirect(_safe_next(request, request.POST.get("next")))


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    items = list(Notification.objects.filter(user=request.user).order_by("-id")[:INBOX_SIZE])
    unread = sum(1 for n in items if n.read_at is None)
    return _render(request, "accounts/notifications.html", {"items": items, "unread": unread, "nav": "notifications"})


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """Mark one notification read, or all of them when no id is posted."""
    form = MarkReadForm(request.POST)
    if form.is_valid():
        one = form.cleaned_data["notification"]
        services.mark_notifications_read(request.user, [one] if one else None)
    return redirect("accounts:notifications")


@login_required
def notification_badge(request: HttpRequest) -> HttpResponse:
    """The unread count in the top bar, polled by htmx so pages stay within their query budget."""
    count = Notification.objects.filter(user=request.user, read_at=None).count()
    return _render(request, "accounts/partials/badge.html", {"count": count})
