from django.urls import path

from desk.orders import views

app_name = "orders"
urlpatterns = [
    path("", views.imports_page, name="imports"),
    path("<id:pk>/", views.job_page, name="job"),
    path("<id:pk>/progress/", views.job_progress, name="job_progress"),
]
