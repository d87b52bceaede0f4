"""URLs: part of the contract the app keeps (docs/contract.md). Keep them stable; wikis link here."""

from django.urls import path

from . import images, ops, sessions, sharing, sweeps, views

urlpatterns = [
    path("", views.contents, name="contents"),
    path("chapters/<slug:slug>/", views.chapter, name="chapter"),
    path("checklist/", views.checklist, name="checklist"),
    path("chapters/<slug:slug>/session/", sessions.guide_page, name="session_guide"),
    path("chapters/<slug:slug>/session/present/", sessions.present, name="session_present"),
    path("chapters/<slug:slug>/session/notes/", sessions.notes, name="session_notes"),
    path("chapters/<slug:slug>/session/live", sessions.live_create, name="live_create"),
    path("chapters/<slug:slug>/handout/", sessions.handout, name="handout"),
    path("chapters/<slug:slug>/handout/answers/", sessions.handout, {"answers": True},
         name="handout_answers"),
    path("sessions/", sessions.sessions_index, name="sessions"),
    path("s/", sessions.live_join, name="live_join"),
    path("s/<str:code>/", sessions.live_follow, name="live_follow"),
    path("s/<str:code>/state.json", sessions.live_state, name="live_state"),
    path("s/<str:code>/predict", sessions.live_predict, name="live_predict"),
    path("s/<str:code>/predictions.json", sessions.live_predictions, name="live_predictions"),
    path("checklist/template.md", sessions.checklist_template, name="checklist_template"),
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
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.prometheus_metrics, name="metrics"),
]

handler404 = "monograph.statuses.not_found"
handler500 = "monograph.views.server_error"
