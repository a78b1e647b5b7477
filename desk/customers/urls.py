from django.urls import path

from desk.customers import views

app_name = "customers"
urlpatterns = [
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/panel/", views.panel, name="panel"),
    path("<int:pk>/reveal/", views.reveal, name="reveal"),
]
