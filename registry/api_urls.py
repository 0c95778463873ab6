from django.urls import path

from registry import api

models = "projects/<str:slug>/registered-models/"
model = models + "<str:name>/"

urlpatterns = [
    path(models, api.RegisteredModelListView.as_view(), name="api-registered-models"),
    path(model, api.RegisteredModelDetailView.as_view(), name="api-registered-model"),
    path(model + "versions/", api.VersionListView.as_view(), name="api-model-versions"),
    path(
        model + "versions/<int:version>/",
        api.VersionDetailView.as_view(),
        name="api-model-version",
    ),
    path(
        model + "versions/<int:version>/tags/<path:key>/",
        api.VersionTagView.as_view(),
        name="api-model-version-tag",
    ),
    path(model + "aliases/<str:alias>/", api.AliasView.as_view(), name="api-model-alias"),
]
