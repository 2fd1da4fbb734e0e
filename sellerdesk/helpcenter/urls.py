from __future__ import annotations

from django.urls import path

from sellerdesk.helpcenter import views
from sellerdesk.reports import public

app_name = "help"
urlpatterns = [
    path("", views.index, name="index"),
    path("search/", views.search, name="search"),
    path("contact/", views.contact, name="contact"),
    path("s/<slug:slug>/", views.section, name="section"),
    path("a/<slug:slug>/", views.article, name="article"),
    path("a/<slug:slug>/comment/", views.comment, name="comment"),
    path("report/", public.report_list, name="reports"),
    path("report/<slug:series>/", public.report, name="report"),
    path("report/<slug:series>/v<int:version>/", public.report_version, name="report_version"),
    path("report/<slug:series>/v<int:version>.csv", public.report_csv, name="report_csv"),
    path("report/<slug:series>/v<int:version>.json", public.report_json, name="report_json"),
    path("improvements/", public.improvements, name="improvements"),
    # Staff: articles for leads and admins, comment moderation for every agent.
    path("manage/", views.manage, name="manage"),
    path("manage/sections/new/", views.section_edit, name="section_new"),
    path("manage/sections/<int:pk>/", views.section_edit, name="section_edit"),
    path("manage/articles/new/", views.article_edit, name="article_new"),
    path("manage/articles/<int:pk>/", views.article_edit, name="article_edit"),
    path("manage/comments/", views.moderation, name="moderation"),
    path("manage/comments/<int:pk>/", views.comment_moderate, name="comment_moderate"),
]
