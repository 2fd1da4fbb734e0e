"""The help center: articles in Markdown (sanitized), per language with a fallback, search,
merchants' comments moderated by agents, the contact page, caching, the staff pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from sellerdesk.accounts.models import AuditEvent
from sellerdesk.core.errors import ValidationError
from sellerdesk.helpcenter import services
from sellerdesk.helpcenter.models import Article, Comment, CommentStatus

EVIL = (
    "# Payouts\n\n<script>alert('x')</script>\n\n"
    "[click](javascript:alert(1)) ![img](x.png)\n\n"
    '<img src=x onerror="alert(2)">\n\n**Payouts** arrive on Fridays. [Rules](https://example.test/r)'
)


@pytest.fixture
def section(lead):
    return services.section_save(actor=lead, slug="payments", title="Payments")


@pytest.fixture
def article(lead, section):
    row = services.article_save(
        actor=lead, section=section, slug="payouts", language="en", title="When is my payout?",
        body=EVIL, published=True,
    )  # fmt: skip
    services.article_save(
        actor=lead, section=section, slug="payouts", language="tr", title="Ödemem ne zaman?",
        body="**Ödemeler** cuma günü yapılır.", published=True, article=row,
    )  # fmt: skip
    services.article_save(
        actor=lead, section=section, slug="payouts", language="zh", title="货款什么时候到账？",
        body="货款每周五到账。", published=True, article=row,
    )  # fmt: skip
    return row


def _page(client, name="help:article", **kwargs):
    slug = kwargs.pop("slug", "payouts")
    response = client.get(reverse(name, kwargs={"slug": slug} if slug else {}), **kwargs)
    assert response.status_code == 200
    return response.content.decode()


def test_markdown_is_rendered_and_sanitized(article, client):
    page = _page(client)
    assert "<strong>Payouts</strong> arrive on Fridays." in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page  # raw HTML shows as text
    assert 'href="javascript:' not in page  # the link is refused: left as text
    assert '<img src=x onerror="alert(2)">' not in page
    assert "&lt;img src=x onerror=" in page  # shown as text, never as an element
    assert 'href="https://example.test/r" rel="noopener noreferrer nofollow"' in page


def test_no_event_handler_or_script_survives_in_stored_html(article):
    for translation in article.translations.all():
        html = translation.body_html
        assert "<script" not in html
        assert "<img src=x" not in html  # the raw tag is text (&lt;img ...), never an element
        assert 'href="javascript:' not in html


def test_the_language_comes_from_the_query_then_the_merchant_then_the_browser(
    article, client, client_for, alice, eve
):
    assert "Ödemem ne zaman?" in _page(client, HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9,en;q=0.5")
    assert "货款什么时候到账？" in _page(client, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    # Korean: not translated yet, so the English text with a note.
    korean = _page(client, HTTP_ACCEPT_LANGUAGE="ko-KR")
    assert "When is my payout?" in korean
    assert "이 문서는 아직 번역되지 않아 영어로 보여 드립니다." in korean
    assert '<html lang="ko">' in korean
    # Alice's merchant writes Turkish, whatever her browser says; ?lang= wins over both.
    assert "Ödemem ne zaman?" in _page(client_for(alice, None), HTTP_ACCEPT_LANGUAGE="en")
    assert "货款什么时候到账？" in _page(client_for(eve, None))
    url = reverse("help:article", kwargs={"slug": "payouts"}) + "?lang=en"
    assert "When is my payout?" in client_for(alice, None).get(url).content.decode()


def test_the_index_and_section_list_published_articles_only(article, lead, section, client):
    services.article_save(
        actor=lead, section=section, slug="draft-one", language="en", title="Secret draft",
        body="Not yet.", published=False,
    )  # fmt: skip
    for page in (
        _page(client, "help:index", slug=None),
        _page(client, "help:section", slug="payments"),
    ):
        assert "When is my payout?" in page
        assert "Secret draft" not in page
    assert client.get(reverse("help:article", kwargs={"slug": "draft-one"})).status_code == 404
    assert client.get(reverse("help:article", kwargs={"slug": "nope"})).status_code == 404


def test_search_finds_articles_in_the_language_and_the_fallback(article, client):
    def search(q, lang="en"):
        return client.get(reverse("help:search"), {"q": q, "lang": lang}).content.decode()

    assert "When is my payout?" in search("fridays payouts")
    assert "Ödemem ne zaman?" in search("cuma", "tr")
    # In Turkish, an English word finds the article through the fallback text.
    assert "Ödemem ne zaman?" in search("Fridays", "tr")
    assert "No article matches" in search("refund")
    assert "payout" not in search("").split("<main")[1].lower()


def test_index_is_served_with_english_fallback_for_unknown_language(article, client):
    page = client.get(reverse("help:index"), HTTP_ACCEPT_LANGUAGE="xx").content.decode()
    assert '<html lang="en">' in page


def test_anonymous_readers_are_asked_to_sign_in_to_comment(article, client):
    page = _page(client)
    assert "Please sign in to leave a comment." in page
    assert 'name="body"' not in page
    response = client.post(reverse("help:comment", kwargs={"slug": "payouts"}), {"body": "hi"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert not Comment.objects.exists()


def test_a_merchants_comment_shows_once_an_agent_approved_it(article, alice, agent, client_for):
    client = client_for(alice)
    assert 'name="body"' in _page(client)
    body = "Thanks! <script>alert('x')</script> 谢谢"
    response = client.post(reverse("help:comment", kwargs={"slug": "payouts"}), {"body": body})
    assert response.status_code == 302
    comment = Comment.objects.get()
    assert comment.status == CommentStatus.PENDING
    assert "谢谢" not in _page(client_for(None))
    desk = client_for(agent)
    queue = desk.get(reverse("help:moderation")).content.decode()
    assert "&lt;script&gt;alert" in queue
    assert "<script>alert" not in queue
    desk.post(reverse("help:comment_moderate", kwargs={"pk": comment.pk}), {"decision": "approve"})
    page = _page(client_for(None))
    assert "谢谢" in page
    assert "&lt;script&gt;alert" in page
    assert "<script>alert" not in page
    assert "alice@acme.test" not in page  # names, never addresses
    assert AuditEvent.objects.filter(action="help_changed", target=f"comment {comment.pk}").exists()


def test_a_rejected_comment_is_never_shown(article, alice, agent, client_for):
    comment = services.comment_post(author=alice, article=article, body="Spam spam")
    client_for(agent).post(
        reverse("help:comment_moderate", kwargs={"pk": comment.pk}), {"decision": "reject"}
    )
    comment.refresh_from_db()
    assert comment.status == CommentStatus.REJECTED
    assert "Spam spam" not in _page(client_for(None))
    # A decision that is neither: nothing changes.
    other = services.comment_post(author=alice, article=article, body="Second")
    client_for(agent).post(
        reverse("help:comment_moderate", kwargs={"pk": other.pk}), {"decision": "delete"}
    )
    other.refresh_from_db()
    assert other.status == CommentStatus.PENDING


def test_an_empty_or_oversized_comment_is_refused_and_nothing_stored(article, alice, client_for):
    client = client_for(alice)
    url = reverse("help:comment", kwargs={"slug": "payouts"})
    response = client.post(url, {"body": "   "}, follow=True)
    assert "please write your comment" in response.content.decode()
    client.post(url, {"body": "x" * 5001})
    assert not Comment.objects.exists()


def test_only_merchant_users_comment_and_only_agents_moderate(article, alice, agent, lead):
    with pytest.raises(PermissionDenied):
        services.comment_post(author=agent, article=article, body="staff")
    comment = services.comment_post(author=alice, article=article, body="ok")
    with pytest.raises(PermissionDenied):
        services.comment_moderate(actor=alice, comment=comment, approve=True)
    with pytest.raises(PermissionDenied):
        services.article_save(
            actor=agent, section=article.section, slug="x", language="en", title="x", body="x",
            published=True,
        )  # fmt: skip


def test_articles_refuse_bad_input_with_a_reason(lead, section):
    def save(**kwargs):
        fields = {"slug": "ok", "language": "en", "title": "T", "body": "B", "published": True}
        return services.article_save(actor=lead, section=section, **{**fields, **kwargs})

    with pytest.raises(ValidationError, match="not a usable address"):
        save(slug="Not OK")
    with pytest.raises(ValidationError, match="not a help-center language"):
        save(language="de")
    with pytest.raises(ValidationError, match="English first"):
        save(language="tr")
    with pytest.raises(ValidationError, match="NUL"):
        save(body="a\x00b")
    with pytest.raises(ValidationError, match="the title is empty"):
        save(title=" ")
    assert not Article.objects.exists()


def test_public_pages_are_cacheable_per_language(article, client, client_for, alice, lead):
    url = reverse("help:article", kwargs={"slug": "payouts"})
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    turkish = client.get(url, HTTP_ACCEPT_LANGUAGE="tr")
    assert english["Cache-Control"] == "public, max-age=300"
    assert "Accept-Language" in english["Vary"]
    assert english["ETag"] != turkish["ETag"]
    assert "Set-Cookie" not in english.serialize_headers().decode()
    assert (
        client.get(url, HTTP_ACCEPT_LANGUAGE="en", HTTP_IF_NONE_MATCH=english["ETag"]).status_code
        == 304
    )
    # A change to the article makes a new page.
    services.article_save(
        actor=lead,
        section=article.section, slug="payouts", language="en", title="Payout days",
        body="Fridays.", published=True, article=article,
    )  # fmt: skip
    changed = client.get(url, HTTP_ACCEPT_LANGUAGE="en", HTTP_IF_NONE_MATCH=english["ETag"])
    assert changed.status_code == 200
    assert "Payout days" in changed.content.decode()
    assert client_for(alice).get(url)["Cache-Control"] == "private, no-cache"


def test_the_contact_page_names_the_channels_the_rule_and_the_report(db, client, settings):
    settings.SELLERDESK_SUPPORT_EMAIL = "help@market.test"
    settings.SELLERDESK_MERCHANT_REPLY_DAYS = 7
    page = client.get(reverse("help:contact")).content.decode()
    assert "mailto:help@market.test" in page
    assert "The 7-day rule" in page
    assert "within 7 days" in page
    assert reverse("help:reports") in page
    assert reverse("portal:new").replace("/", "%2F") in page or reverse("portal:new") in page


def test_leads_write_articles_through_the_staff_pages(lead, section, client_for):
    client = client_for(lead)
    assert client.get(reverse("help:manage")).status_code == 200
    response = client.post(
        reverse("help:article_new"),
        {"section": section.pk, "slug": "refunds", "language": "en", "title": "Refunds",
         "body": "Refunds take **5 days**.", "position": 1, "published": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    row = Article.objects.get(slug="refunds")
    response = client.post(
        reverse("help:article_edit", kwargs={"pk": row.pk}) + "?lang=ko",
        {"section": section.pk, "slug": "refunds", "language": "ko", "title": "환불",
         "body": "환불은 **5일** 걸립니다.", "position": 1, "published": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get(reverse("help:article", kwargs={"slug": "refunds"}) + "?lang=ko")
    assert "환불은 <strong>5일</strong> 걸립니다." in page.content.decode()
    bad = client.post(
        reverse("help:article_new"),
        {"section": section.pk, "slug": "refunds", "language": "en", "title": "Again",
         "body": "x", "position": 1},
    )  # fmt: skip
    assert bad.status_code == 200
    assert "an article at &#x27;refunds&#x27; exists" in bad.content.decode()


def test_the_article_page_reads_a_fixed_number_of_rows(
    article, client, alice, django_assert_max_num_queries
):
    for n in range(5):
        comment = services.comment_post(author=alice, article=article, body=f"c{n}")
        Comment.objects.filter(pk=comment.pk).update(status=CommentStatus.APPROVED)
    with django_assert_max_num_queries(6):
        _page(client)


def test_a_thank_you_is_shown_even_to_a_reader_with_the_page_cached(article, alice, client_for):
    client = client_for(alice)
    url = reverse("help:article", kwargs={"slug": "payouts"})
    etag = client.get(url)["ETag"]
    client.post(reverse("help:comment", kwargs={"slug": "payouts"}), {"body": "Merci"})
    response = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert "your comment shows once support has read it" in response.content.decode()
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
