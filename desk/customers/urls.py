from django.urls import path

from desk.customers import views

app_name = "customers"
urlpatterns = [
    path("<id:pk>/", views.detail, name="detail"),
    path("<id:pk>/panel/", views.panel, name="panel"),
    path("<id:pk>/reveal/", views.reveal, name="reveal"),
]
