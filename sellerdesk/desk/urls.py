from __future__ import annotations

from django.urls import path

from sellerdesk.desk import automations, people, triage, views

app_name = "desk"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("bulk/", views.bulk, name="bulk"),
    path("tags/", views.tag_autocomplete, name="tags"),
    path("outreach/", views.outreach, name="outreach"),
    path("macros/", views.macro_list, name="macros"),
    path("macros/new/", views.macro_edit, name="macro_new"),
    path("macros/<int:pk>/", views.macro_edit, name="macro_edit"),
    path("people/", people.people, name="people"),
    path("people/add/", people.person_add, name="person_add"),
    path("people/teams/add/", people.team_add, name="team_add"),
    path("people/<int:pk>/role/", people.person_role, name="person_role"),
    path("people/<int:pk>/active/", people.person_active, name="person_active"),
    path("people/<int:pk>/team/", people.person_team, name="person_team"),
    path("automations/", automations.automation_list, name="automations"),
    path("automations/new/", automations.automation_edit, name="automation_new"),
    path("automations/<int:pk>/", automations.automation_edit, name="automation_edit"),
    path("automations/<int:pk>/toggle/", automations.automation_toggle, name="automation_toggle"),
    path("triage/", triage.triage_page, name="triage"),
    path("triage/threshold/", triage.tag_threshold, name="triage_threshold"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path(
        "c/<int:pk>/suggestions/<int:sid>/accept/",
        triage.suggestion_accept,
        name="suggestion_accept",
    ),
    path(
        "c/<int:pk>/suggestions/<int:sid>/reject/",
        triage.suggestion_reject,
        name="suggestion_reject",
    ),
    path("c/<int:pk>/reply/", views.reply, name="reply"),
    path("c/<int:pk>/status/", views.change_status, name="status"),
    path("c/<int:pk>/assign/", views.assign, name="assign"),
    path("c/<int:pk>/team/", views.set_team, name="team"),
    path("c/<int:pk>/kind/", views.change_kind, name="kind"),
    path("c/<int:pk>/outcome/", views.change_outcome, name="outcome"),
    path("c/<int:pk>/priority/", views.change_priority, name="priority"),
    path("c/<int:pk>/references/", views.set_references, name="references"),
    path("c/<int:pk>/tags/add/", views.tag_add, name="tag_add"),
    path("c/<int:pk>/tags/remove/", views.tag_remove, name="tag_remove"),
    path("c/<int:pk>/spam/", views.set_spam, name="spam"),
    path("c/<int:pk>/presence/", views.presence, name="presence"),
    path("c/<int:pk>/macro/", views.macro_preview, name="macro_preview"),
    path(
        "c/<int:pk>/attachments/<int:attachment_pk>/",
        views.attachment_download,
        name="attachment",
    ),
]
