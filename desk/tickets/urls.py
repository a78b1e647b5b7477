from django.urls import path
from django.views.generic import RedirectView

from desk.sla.views import ticket_targets_panel
from desk.tickets import views, views_intake

app_name = "tickets"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/rows/", views.queue_rows, name="queue_rows"),
    path("overview/", views.overview, name="overview"),
    path("tickets/new/", views_intake.new_ticket, name="new"),
    # The inbox lives with the accounts pages; the short address is kept for people and links.
    path("notifications/", RedirectView.as_view(pattern_name="accounts:notifications"), name="notifications"),
    path("overview/live/", views.overview_live, name="overview_live"),
    path("tickets/<id:pk>/", views.detail, name="detail"),
    path("tickets/<id:pk>/live/", views.live, name="live"),
    path("tickets/<id:pk>/sla/", ticket_targets_panel, name="sla"),
    path("tickets/<id:pk>/accept/", views.accept, name="accept"),
    path("tickets/<id:pk>/take/", views.take, name="take"),
    path("tickets/<id:pk>/assign/", views.assign, name="assign"),
    path("tickets/<id:pk>/update/", views.update, name="update"),
    path("tickets/<id:pk>/reply/", views.reply, name="reply"),
    path("tickets/<id:pk>/note/", views.note, name="note"),
    path("tickets/<id:pk>/merge/", views.merge, name="merge"),
    path("tickets/<id:pk>/attach/", views.attach, name="attach"),
    path("tickets/<id:pk>/attachments/<id:attachment_id>/", views.attachment, name="attachment"),
]
