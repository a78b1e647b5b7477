from django.urls import path

from bench.floor import views

urlpatterns = [path("", views.page), path("insert", views.insert)]
