from __future__ import annotations

from django.urls import path

from sellerdesk.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.edition_list, name="editions"),
    path("new/", views.edition_new, name="edition_new"),
    path("<int:pk>/", views.edition, name="edition"),
    path("<int:pk>/recompute/", views.edition_recompute, name="edition_recompute"),
    path("<int:pk>/publish/", views.edition_publish, name="edition_publish"),
    path("<int:pk>/correct/", views.edition_correct, name="edition_correct"),
    path("improvements/", views.improvement_list, name="improvements"),
    path("improvements/new/", views.improvement_edit, name="improvement_new"),
    path("improvements/<int:pk>/", views.improvement_edit, name="improvement_edit"),
    path("improvements/<int:pk>/measure/", views.improvement_measure, name="improvement_measure"),
]
