from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("desk.accounts.urls")),
    path("customers/", include("desk.customers.urls")),
    path("imports/", include("desk.orders.urls")),
    path("cases/", include("desk.cases.urls")),
    path("portal/", include("desk.portal.urls")),
    path("", include("desk.tickets.urls")),
]

if settings.DEBUG:
    urlpatterns.append(path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}))
