from django.urls import path
from django.views.generic import RedirectView

from desk.tickets import views

app_name = "tickets"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/rows/", views.queue_rows, name="queue_rows"),
    path("overview/", views.overview, name="overview"),
    # The inbox lives with the accounts pages; the short address is kept for people and links.
    path("notifications/", RedirectView.as_view(pattern_name="accounts:notifications"), name="notifications"),
    path("overview/live/", views.overview_live, name="overview_live"),
    path("tickets/<int:pk>/", views.detail, name="detail"),
    path("tickets/<int:pk>/live/", views.live, name="live"),
    path("tickets/<int:pk>/accept/", views.accept, name="accept"),
    path("tickets/<int:pk>/take/", views.take, name="take"),
    path("tickets/<int:pk>/assign/", views.assign, name="assign"),
    path("tickets/<int:pk>/update/", views.update, name="update"),
    path("tickets/<int:pk>/reply/", views.reply, name="reply"),
    path("tickets/<int:pk>/note/", views.note, name="note"),
    path("tickets/<int:pk>/merge/", views.merge, name="merge"),
    path("tickets/<int:pk>/attach/", views.attach, name="attach"),
]
