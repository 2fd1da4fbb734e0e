from __future__ import annotations

from django.urls import path

from sellerdesk.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.conversation_list, name="list"),
    path("new/", views.conversation_new, name="new"),
    path("chat/", views.chat_start, name="chat"),
    path("c/<int:pk>/", views.conversation_detail, name="detail"),
    path("c/<int:pk>/reply/", views.conversation_reply, name="reply"),
    path("c/<int:pk>/solve/", views.conversation_solve, name="solve"),
    path(
        "c/<int:pk>/attachments/<int:attachment_pk>/",
        views.attachment_download,
        name="attachment",
    ),
]
