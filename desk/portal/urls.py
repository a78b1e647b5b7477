from django.urls import path

from desk.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.orders, name="orders"),
    path("login/", views.login, name="login"),
    path("login/code/", views.code, name="code"),
    path("login/resend/", views.resend, name="resend"),
    path("logout/", views.logout, name="logout"),
    path("orders/<id:pk>/", views.order, name="order"),
    path("orders/<id:pk>/preview/", views.preview, name="preview"),
    path("cases/", views.case_list, name="cases"),
    path("cases/<id:pk>/", views.case_detail, name="case"),
    path("cases/<id:pk>/ship/", views.ship, name="ship"),
    path("cases/<id:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("cases/<id:pk>/photos/", views.add_photos, name="photos"),
    path("cases/<id:pk>/proposals/<id:proposal>/accept/", views.accept, name="accept"),
    path("cases/<id:pk>/proposals/<id:proposal>/reject/", views.reject, name="reject"),
]
