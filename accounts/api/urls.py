from django.urls import path

from . import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="api-me"),
    path("projects/<str:slug>/members/", views.MemberListView.as_view(), name="api-members"),
    path(
        "projects/<str:slug>/members/<int:membership_id>/",
        views.MemberDetailView.as_view(),
        name="api-member",
    ),
    path("tokens/", views.TokenListView.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="api-token"),
]
