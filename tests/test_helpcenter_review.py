"""The help center after review: a comment's author is shown by name (never by address), the
index's ETag follows the published editions, a signed-in page's ETag follows its CSRF token,
and search needs every word of the query."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from sellerdesk.accounts.models import User
from sellerdesk.accounts.services import user_create
from sellerdesk.helpcenter import services
from sellerdesk.helpcenter.models import Comment
from sellerdesk.reports import services as editions
from tests.conftest import PASSWORD
from tests.test_editions import _create, _data

ARTICLE_URL = reverse("help:article", kwargs={"slug": "payouts"})


@pytest.fixture
def article(lead):
    section = services.section_save(actor=lead, slug="payments", title="Payments")
    return services.article_save(
        actor=lead, section=section, slug="payouts", language="en", title="When is my payout?",
        body="Payouts arrive on Fridays: one two three four five six seven eight.",
        published=True,
    )  # fmt: skip


@pytest.fixture
def nameless(acme):
    """An Acme merchant user who never gave a name: only an address."""
    return user_create(
        email="nameless@acme.test", password=PASSWORD, role="merchant", merchant=acme
    )


def _approved(client_for, agent, author, article, body):
    comment = services.comment_post(author=author, article=article, body=body)
    client_for(agent).post(
        reverse("help:comment_moderate", kwargs={"pk": comment.pk}), {"decision": "approve"}
    )
    assert Comment.objects.get(pk=comment.pk).status == "approved"
    return comment


# --- A comment's author -----------------------------------------------------------------------


def test_a_comment_by_someone_without_a_name_never_shows_their_address(
    article, nameless, alice, agent, client_for
):
    _approved(client_for, agent, nameless, article, "No name here")
    _approved(client_for, agent, alice, article, "Alice writes")
    for reader in (client_for(None), client_for(alice), client_for(agent)):
        page = reader.get(ARTICLE_URL).content.decode()
        assert "No name here" in page
        assert "nameless@acme.test" not in page
        comments = page.split('id="comments"')[1]
        # Her merchant's name stands for the person; a named person shows the name and merchant.
        assert "<strong>Acme Tekstil</strong>" in comments
        assert "<strong>Alice Acar</strong> · Acme Tekstil" in comments
        assert "alice@acme.test" not in comments


def test_a_comment_authors_new_name_changes_the_article_page(
    article, nameless, agent, client, client_for
):
    _approved(client_for, agent, nameless, article, "No name here")
    first = client.get(ARTICLE_URL)
    assert client.get(ARTICLE_URL, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    User.objects.filter(pk=nameless.pk).update(full_name="Nadia Namli")
    again = client.get(ARTICLE_URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200
    assert "<strong>Nadia Namli</strong> · Acme Tekstil" in again.content.decode()


def test_the_moderation_queue_still_names_the_author_for_the_agent(
    article, nameless, agent, client_for
):
    services.comment_post(author=nameless, article=article, body="Waiting")
    # Staff only, behind sign-in: the agent may need the address to reach the person.
    queue = client_for(agent).get(reverse("help:moderation"))
    assert queue.status_code == 200
    assert "Waiting" in queue.content.decode()
    assert "nameless@acme.test" in queue.content.decode()


# --- The index and the published editions ----------------------------------------------------


def test_the_index_changes_when_an_edition_is_published(db, article, lead, client):
    url = reverse("help:index")
    before = client.get(url)
    assert "Nothing published yet." in before.content.decode()
    assert client.get(url, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304
    _data()
    draft = _create(lead)
    # A draft is not on the page: the reader's copy is still it.
    assert client.get(url, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304
    published = editions.edition_publish(actor=lead, edition=draft)
    after = client.get(url, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    page = after.content.decode()
    assert "Complaint-handling system data 2022" in page
    assert reverse("help:report", kwargs={"series": "2022"}) in page
    assert client.get(url, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304
    # A correction, once published, is the series' page: the index's copy changes too.
    correction = editions.edition_correct(actor=lead, edition=published)
    assert client.get(url, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304
    editions.edition_publish(actor=lead, edition=correction)
    assert client.get(url, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 200


# --- A signed-in page and its CSRF token -------------------------------------------------------

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _sign_in(client: Client, user: User) -> None:
    page = client.get(reverse("accounts:login")).content.decode()
    token = _TOKEN.search(page)
    assert token
    response = client.post(
        reverse("accounts:login"),
        {"csrfmiddlewaretoken": token.group(1), "email": user.email, "password": PASSWORD},
    )
    assert response.status_code == 302


def test_signing_in_again_gives_a_new_page_with_a_token_that_works(article, alice):
    client = Client(enforce_csrf_checks=True)
    _sign_in(client, alice)
    first = client.get(ARTICLE_URL)
    assert first.status_code == 200
    old_token = _TOKEN.search(first.content.decode())
    assert old_token
    old_cookie = client.cookies[settings.CSRF_COOKIE_NAME].value
    assert old_cookie not in first["ETag"]
    assert client.get(ARTICLE_URL, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    # Signed out and in again: Django gives the browser a new CSRF secret.
    client.logout()
    _sign_in(client, alice)
    assert client.cookies[settings.CSRF_COOKIE_NAME].value != old_cookie
    comment_url = reverse("help:comment", kwargs={"slug": "payouts"})
    # The old page's token is dead: it must not be kept with a 304.
    assert (
        client.post(
            comment_url, {"body": "x", "csrfmiddlewaretoken": old_token.group(1)}
        ).status_code
        == 403
    )
    again = client.get(ARTICLE_URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200
    assert again["ETag"] != first["ETag"]
    new_token = _TOKEN.search(again.content.decode())
    assert new_token
    posted = client.post(comment_url, {"body": "Thanks", "csrfmiddlewaretoken": new_token.group(1)})
    assert posted.status_code == 302
    assert Comment.objects.filter(body="Thanks").exists()
    thanked = client.get(ARTICLE_URL, HTTP_IF_NONE_MATCH=again["ETag"])
    assert thanked.status_code == 200
    assert '<div class="flash">' in thanked.content.decode()  # the thank-you, in her language
    # The same sign-in, so the same secret: the copy is still the page.
    assert thanked["ETag"] == again["ETag"]
    assert client.get(ARTICLE_URL, HTTP_IF_NONE_MATCH=again["ETag"]).status_code == 304


def test_anonymous_pages_stay_shared_and_without_a_cookie(article, client):
    response = client.get(ARTICLE_URL)
    assert response["Cache-Control"] == "public, max-age=300"
    assert "Set-Cookie" not in response.serialize_headers().decode()
    assert "csrfmiddlewaretoken" not in response.content.decode()
    assert Client().get(ARTICLE_URL)["ETag"] == response["ETag"]


# --- Search -----------------------------------------------------------------------------------


def _search(client, q):
    response = client.get(reverse("help:search"), {"q": q, "lang": "en"})
    assert response.status_code == 200
    return response.content.decode().split("<main")[1]


def test_search_needs_every_word_however_many(article, client):
    assert "When is my payout?" in _search(client, "one two three four five six seven eight")
    assert "When is my payout?" not in _search(
        client, "one two three four five six seven eight refund"
    )
    assert "When is my payout?" not in _search(client, " ".join(["fridays"] * 12 + ["refund"]))
    assert "When is my payout?" in _search(client, " ".join(["Payouts", "FRIDAYS"] * 6))


def test_a_search_over_the_limit_is_refused_with_the_reason(article, client):
    words = ("fridays " * 25).strip()
    assert len(words) <= 200
    assert "When is my payout?" in _search(client, words)
    # Cut at the limit, the last word would be "refu" and the rest would be dropped unseen.
    long = words + " refund"
    assert len(long) > 200
    page = _search(client, long)
    assert "A search may be at most 200 characters long." in page
    assert "When is my payout?" not in page
    turkish = client.get(reverse("help:search"), {"q": long, "lang": "tr"}).content.decode()
    assert "Arama en fazla 200 karakter olabilir." in turkish
