from django.contrib import admin
from django.urls import include, path

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

# Uploads (MEDIA_ROOT) are never served by URL, not even with DEBUG: attachments and evidence go out
# through views that check who may read them (e.g. tickets:attachment).
