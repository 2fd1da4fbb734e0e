"""The live chat's pages: "Chat with support" in the portal (a plain form without JavaScript),
and the hooks chat.js finds on the portal's and the desk's pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sellerdesk.conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_chat_with_support_opens_a_chat_conversation_and_shows_it(client_for, alice):
    client = client_for(alice)
    page = client.get(reverse("portal:chat"))
    assert page.status_code == 200
    assert b"Chat with support" in page.content
    response = client.post(reverse("portal:chat"), {"body": "Ödemem nerede?\nSipariş ORD-7 için."})
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:detail", kwargs={"pk": conversation.pk})
    assert conversation.channel == "chat"
    assert conversation.subject == "Ödemem nerede?"
    assert conversation.merchant == alice.merchant
    message = conversation.messages.get()
    assert (message.body, message.author_user) == ("Ödemem nerede?\nSipariş ORD-7 için.", alice)


def test_an_empty_chat_is_refused_and_nothing_is_opened(client_for, alice):
    response = client_for(alice).post(reverse("portal:chat"), {"body": "   "})
    assert response.status_code == 400
    assert not Conversation.objects.exists()


def test_the_list_offers_the_chat(client_for, alice):
    page = client_for(alice).get(reverse("portal:list"))
    assert reverse("portal:chat").encode() in page.content


def test_the_portal_conversation_page_carries_the_chat_panel(client_for, alice, acme_conversation):
    page = client_for(alice).get(reverse("portal:detail", kwargs={"pk": acme_conversation.pk}))
    last = Message.objects.get(conversation=acme_conversation).pk
    html = page.content.decode()
    assert f'data-chat-conversation="{acme_conversation.pk}"' in html
    assert f'data-chat-after="{last}"' in html
    assert "data-chat-form" in html
    assert "sellerdesk/chat.js" in html


def test_the_desk_pages_load_the_live_updates(client_for, agent, acme_conversation):
    client = client_for(agent)
    page = client.get(reverse("desk:conversation", kwargs={"pk": acme_conversation.pk})).content
    assert b'data-chat="desk"' in page
    assert b"data-chat-viewers" in page
    # Agents reply with the full form (status, macro, attachments): it is not taken over.
    assert b"data-chat-form" not in page
    inbox = client.get(reverse("desk:inbox")).content
    assert b'data-chat="inbox"' in inbox
    assert b"data-chat-banner" in inbox


def test_the_chat_script_is_served(client):
    from django.contrib.staticfiles import finders

    path = finders.find("sellerdesk/chat.js")
    assert path is not None
    with open(path, encoding="utf-8") as script:
        source = script.read()
    assert "/ws/chat/" in source
    assert "textContent = m.body" in source  # a message's text is never parsed as markup
