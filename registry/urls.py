"""The registry's pages, under a project: `/p/<slug>/registry/...`."""

from django.urls import path

from registry import views

model = "p/<slug:slug>/registry/m/<str:name>/"

urlpatterns = [
    path("p/<slug:slug>/registry/", views.models_page, name="registered_models"),
    path("p/<slug:slug>/registry/register/", views.register, name="registry_register"),
    path(model, views.model_page, name="registered_model"),
    path(model + "alias/", views.alias_set, name="registry_alias_set"),
    path(model + "alias/delete/", views.alias_delete, name="registry_alias_delete"),
    path(model + "tag/", views.tag_set, name="registry_tag_set"),
    path(model + "tag/delete/", views.tag_delete, name="registry_tag_delete"),
    path(model + "description/", views.describe, name="registry_describe"),
    path(model + "version/delete/", views.version_delete, name="registry_version_delete"),
    path(model + "delete/", views.model_delete, name="registry_model_delete"),
]
