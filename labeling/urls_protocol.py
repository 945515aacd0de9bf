from django.urls import path

from . import views_protocol as views

urlpatterns = [
    path("protocols/", views.protocol_list, name="protocol-list"),
    path("protocols/<int:pk>/", views.protocol_detail, name="protocol-detail"),
]
