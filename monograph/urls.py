"""URLs: part of the contract the app keeps (docs/contract.md). Keep them stable; wikis link here."""

from django.urls import path

from . import images, sharing, sweeps, views

urlpatterns = [
    path("", views.contents, name="contents"),
    path("chapters/<slug:slug>/", views.chapter, name="chapter"),
    path("checklist/", views.checklist, name="checklist"),
    path("simulations/", views.gallery, name="gallery"),
    path("simulations/<slug:sim>/", views.lab, name="lab"),
    path("simulations/<slug:sim>/figure", views.figure, name="figure"),
    path("simulations/<slug:sim>/embed", views.embed, name="embed"),
    path("simulations/<slug:sim>.json", views.result_json, name="result_json"),
    path("simulations/<slug:sim>.csv", views.result_csv, name="result_csv"),
    path("simulations/<slug:sim>.svg", images.result_image, {"fmt": "svg"}, name="result_svg"),
    path("simulations/<slug:sim>.png", images.result_image, {"fmt": "png"}, name="result_png"),
    path("oembed", sharing.oembed, name="oembed"),
    path("simulations/<slug:sim>/sweep/", sweeps.sweep_page, name="sweep_page"),
    path("simulations/<slug:sim>/sweep/embed", sweeps.sweep_embed, name="sweep_embed"),
    path("simulations/<slug:sim>/sweep.json", sweeps.sweep_json, name="sweep_json"),
    path("simulations/<slug:sim>/sweep.csv", sweeps.sweep_csv, name="sweep_csv"),
    path("simulations/<slug:sim>/sweep.svg", sweeps.sweep_image, {"fmt": "svg"}, name="sweep_svg"),
    path("simulations/<slug:sim>/sweep.png", sweeps.sweep_image, {"fmt": "png"}, name="sweep_png"),
    path("api/openapi.json", views.openapi_json, name="openapi"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.prometheus_metrics, name="metrics"),
]

handler404 = "monograph.views.not_found"
handler500 = "monograph.views.server_error"
