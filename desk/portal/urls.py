from django.urls import path

from desk.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.orders, name="orders"),
    path("login/", views.login, name="login"),
    path("login/code/", views.code, name="code"),
    path("login/resend/", views.resend, name="resend"),
    path("logout/", views.logout, name="logout"),
    path("orders/<int:pk>/", views.order, name="order"),
    path("orders/<int:pk>/preview/", views.preview, name="preview"),
    path("cases/", views.case_list, name="cases"),
    path("cases/<int:pk>/", views.case_detail, name="case"),
    path("cases/<int:pk>/ship/", views.ship, name="ship"),
    path("cases/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("cases/<int:pk>/photos/", views.add_photos, name="photos"),
    path("cases/<int:pk>/proposals/<int:proposal>/accept/", views.accept, name="accept"),
    path("cases/<int:pk>/proposals/<int:proposal>/reject/", views.reject, name="reject"),
]
