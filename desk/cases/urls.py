from django.urls import path

from desk.cases import views, views_stock

app_name = "cases"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("warehouse/", views.warehouse, name="warehouse"),
    path("refunds/", views.refunds, name="refunds"),
    path("stock/", views_stock.stock_page, name="stock"),
    path("stock/<str:verb>/", views_stock.stock_action, name="stock_action"),
    path("new/", views.new_case, name="new"),
    path("new/preview/", views.new_case_preview, name="new_preview"),
    path("refunds/<str:number>/<str:verb>/", views.refund_action, name="refund_action"),
    path("<ref:ref>/", views.case_detail, name="detail"),
    path("<ref:ref>/<str:verb>/", views.case_action, name="action"),
    path("<ref:ref>/<str:kind>/<id:pk>/<str:verb>/", views.subject_action, name="subject_action"),
]
