"""The merchant portal (/merchant/): a merchant's users see their own conversations, and
nothing else, ever."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from sellerdesk.conversations.models import Attachment, Conversation, Message
from sellerdesk.conversations.workflow import (
    conversation_change_status,
    merchant_conversation_open,
    reply_post,
)
from sellerdesk.portal import dates

pytestmark = pytest.mark.django_db


# --- Helpers ----------------------------------------------------------------------------------


class _Page(HTMLParser):
    """What the accessibility checks need from a page: headings, form controls, labels."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.controls: list[dict[str, str | None]] = []
        self.label_fors: set[str] = set()
        self.forms: list[dict[str, str | None]] = []
        self.ids: set[str] = set()
        self.described_by: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        self.described_by.update((a.get("aria-describedby") or "").split())
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.headings.append(int(tag[1]))
        elif tag in {"input", "select", "textarea"}:
            if a.get("type") not in {"hidden", "submit"}:
                self.controls.append(a)
        elif tag == "label" and a.get("for"):
            self.label_fors.add(a["for"] or "")
        elif tag == "form":
            self.forms.append(a)


def parse(response) -> _Page:
    page = _Page()
    page.feed(response.content.decode())
    return page


def upload(
    name: str = "invoice.pdf", content: bytes = b"%PDF-1.4 test", kind: str = "application/pdf"
):
    return SimpleUploadedFile(name, content, content_type=kind)


def urls_for(conversation: Conversation, attachment_pk: int = 1) -> dict[str, str]:
    pk = conversation.pk
    return {
        "list": reverse("portal:list"),
        "new": reverse("portal:new"),
        "detail": reverse("portal:detail", args=[pk]),
        "reply": reverse("portal:reply", args=[pk]),
        "solve": reverse("portal:solve", args=[pk]),
        "attachment": reverse("portal:attachment", args=[pk, attachment_pk]),
    }


def section(html: str, heading_id: str) -> str:
    """The HTML of the <section> whose heading has this id."""
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def acme_attachment(media, acme_conversation, alice) -> Attachment:
    reply_post(
        conversation=acme_conversation,
        author=alice,
        body="Ekstre ekte.",
        files=[upload("ekstre.pdf", b"%PDF statement")],
    )
    return Attachment.objects.get(conversation=acme_conversation)


# --- Who sees what ----------------------------------------------------------------------------


def test_list_shows_own_open_and_past_conversations_and_not_another_merchants(
    client_for, alice, acme_conversation, globex_conversation
):
    solved = merchant_conversation_open(
        user=alice, kind="question", subject="Kargo etiketi", body="Etiket basılmıyor."
    )
    conversation_change_status(conversation=solved, status="solved", actor=alice)

    response = client_for(alice).get(reverse("portal:list"))

    assert response.status_code == 200
    html = response.content.decode()
    current, past = section(html, "open-heading"), section(html, "past-heading")
    assert "Ödeme gecikti — payment late" in current
    assert "Kargo etiketi" not in current
    assert "Kargo etiketi" in past
    assert "Ödeme gecikti" not in past
    assert reverse("portal:detail", args=[acme_conversation.pk]) in current
    assert "商品审核太慢" not in html
    assert reverse("portal:detail", args=[globex_conversation.pk]) not in html
    assert "Complaint" in current  # the kind
    assert "status-new" in current  # the status, as a badge


def test_each_list_pages_on_its_own_and_loses_no_conversation(client_for, alice, monkeypatch):
    from sellerdesk.conversations import selectors

    monkeypatch.setattr(selectors, "MERCHANT_PAGE", 2)
    base = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    filed = []
    for n in range(5):  # two filed at the same second: the id breaks the tie
        with time_machine.travel(base + dt.timedelta(minutes=n // 2), tick=False):
            filed.append(
                merchant_conversation_open(user=alice, kind="question", subject=f"S{n}", body="b")
            )
    with time_machine.travel(base, tick=False):
        done = merchant_conversation_open(user=alice, kind="question", subject="Done", body="b")
    conversation_change_status(conversation=done, status="solved", actor=alice)
    client = client_for(alice)
    url = reverse("portal:list")

    seen: list[int] = []
    pages = 0
    for _ in range(5):
        pages += 1
        html = client.get(url).content.decode()
        current = section(html, "open-heading")
        seen += [int(pk) for pk in re.findall(r'href="/merchant/c/(\d+)/"', current)]
        assert "Done" in section(html, "past-heading")  # the other list stays on its page
        found = re.search(r'href="(\?[^"]*open=[^"]+)" rel="next"', current)
        if not found:
            break
        url = reverse("portal:list") + found[1].replace("&amp;", "&")
    assert seen == [c.pk for c in reversed(filed)]  # newest first, each once
    assert pages == 3
    assert client.get(reverse("portal:list") + "?open=not-a-cursor").status_code == 404


def test_a_merchants_other_user_sees_the_conversation_a_colleague_filed(
    client_for, bob, acme_conversation, acme_attachment
):
    client = client_for(bob)

    assert "Ödeme gecikti" in client.get(reverse("portal:list")).content.decode()
    detail = client.get(reverse("portal:detail", args=[acme_conversation.pk]))
    assert detail.status_code == 200
    assert "Siparişimin ödemesi 10 gündür gelmedi." in detail.content.decode()
    download = client.get(
        reverse("portal:attachment", args=[acme_conversation.pk, acme_attachment.pk])
    )
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF statement"


def test_another_merchants_user_gets_404_on_every_url_of_the_conversation(
    client_for, eve, acme_conversation, acme_attachment, media
):
    urls = urls_for(acme_conversation, acme_attachment.pk)
    client = client_for(eve)

    assert client.get(urls["detail"]).status_code == 404
    assert client.get(urls["attachment"]).status_code == 404
    reply = client.post(urls["reply"], {"body": "我来回复", "attachments": [upload()]})
    assert reply.status_code == 404
    assert client.post(urls["solve"]).status_code == 404

    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "new"
    assert not Message.objects.filter(conversation=acme_conversation, body="我来回复").exists()
    assert Attachment.objects.filter(conversation=acme_conversation).count() == 1


def test_an_unknown_conversation_is_404(client_for, alice):
    assert client_for(alice).get(reverse("portal:detail", args=[999999])).status_code == 404


def test_an_attachment_of_another_conversation_is_404(client_for, alice, acme_attachment, media):
    other = merchant_conversation_open(user=alice, kind="question", subject="Başka", body="x")
    url = reverse("portal:attachment", args=[other.pk, acme_attachment.pk])
    assert client_for(alice).get(url).status_code == 404


@pytest.mark.parametrize("name", ["list", "new", "detail", "reply", "solve", "attachment"])
def test_anonymous_visitors_are_sent_to_sign_in(client_for, acme_conversation, name):
    url = urls_for(acme_conversation)[name]
    client = client_for(None)

    response = client.post(url) if name in {"reply", "solve"} else client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("persona", ["agent", "cn_agent", "lead", "admin_user"])
def test_staff_get_403_on_every_portal_url(request, client_for, acme_conversation, persona):
    client = client_for(request.getfixturevalue(persona))
    urls = urls_for(acme_conversation)

    for name, url in urls.items():
        assert client.get(url).status_code == 403, name
        assert (
            client.post(url, {"body": "x", "subject": "x", "kind": "question"}).status_code == 403
        ), name
    assert Conversation.objects.count() == 1
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "new"


@pytest.mark.parametrize("name", ["reply", "solve"])
def test_changes_are_post_only(client_for, alice, acme_conversation, name):
    response = client_for(alice).get(urls_for(acme_conversation)[name])

    assert response.status_code == 405
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "new"


@pytest.mark.parametrize("name", ["list", "detail", "attachment"])
def test_reads_refuse_post(client_for, alice, acme_conversation, acme_attachment, name):
    url = urls_for(acme_conversation, acme_attachment.pk)[name]
    assert client_for(alice).post(url).status_code == 405


def test_posts_without_a_csrf_token_are_refused(alice, acme_conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    urls = urls_for(acme_conversation)

    new = client.post(urls["new"], {"kind": "question", "subject": "s", "body": "b"})
    reply = client.post(urls["reply"], {"body": "b"})
    solve = client.post(urls["solve"])

    assert (new.status_code, reply.status_code, solve.status_code) == (403, 403, 403)
    assert Conversation.objects.count() == 1
    assert acme_conversation.messages.count() == 1
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "new"


def test_forms_carry_the_csrf_token(client_for, alice, acme_conversation):
    client = client_for(alice)
    for url in (reverse("portal:new"), reverse("portal:detail", args=[acme_conversation.pk])):
        html = client.get(url).content.decode()
        assert html.count('name="csrfmiddlewaretoken"') == html.count('method="post"')


# --- Opening a conversation -------------------------------------------------------------------


def test_the_new_conversation_form_states_the_attachment_limits(client_for, alice, settings):
    settings.SELLERDESK_ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024
    settings.SELLERDESK_ATTACHMENTS_PER_MESSAGE = 3

    response = client_for(alice).get(reverse("portal:new"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Up to 3 files, at most 5.0\xa0MB each." in html
    assert 'enctype="multipart/form-data"' in html
    for kind in ("question", "request", "proposal", "complaint"):
        assert f'value="{kind}"' in html


def test_opening_a_conversation_stores_kind_subject_references_and_attachment(
    client_for, alice, media
):
    client = client_for(alice)

    response = client.post(
        reverse("portal:new"),
        {
            "kind": "complaint",
            "subject": "İade ödenmedi",
            "body": "İade 3 haftadır bekliyor.\nLütfen kontrol edin.",
            "order_ref": "ORD-77",
            "product_ref": "SKU-9",
            "invoice_ref": "INV-2025-001",
            "attachments": [
                upload("dekont.pdf", b"%PDF receipt"),
                upload("foto.jpg", b"\xff\xd8jpg", "image/jpeg"),
            ],
        },
    )

    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:detail", args=[conversation.pk])
    assert (conversation.kind, conversation.subject, conversation.channel) == (
        "complaint",
        "İade ödenmedi",
        "web",
    )
    assert (conversation.order_ref, conversation.product_ref, conversation.invoice_ref) == (
        "ORD-77",
        "SKU-9",
        "INV-2025-001",
    )
    assert conversation.merchant_id == alice.merchant_id
    message = conversation.messages.get()
    assert message.author_user == alice
    assert message.body == "İade 3 haftadır bekliyor.\nLütfen kontrol edin."
    files = {a.filename: a for a in conversation.attachments.all()}
    assert set(files) == {"dekont.pdf", "foto.jpg"}
    assert files["dekont.pdf"].message == message
    assert files["dekont.pdf"].file.read() == b"%PDF receipt"

    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Your message has been sent to support." in html
    for ref in ("ORD-77", "SKU-9", "INV-2025-001"):
        assert ref in html
    link = reverse("portal:attachment", args=[conversation.pk, files["dekont.pdf"].pk])
    assert f'href="{link}"' in html

    download = client.get(link)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == b"%PDF receipt"


def test_an_over_limit_attachment_is_refused_with_the_reason_and_nothing_is_created(
    client_for, alice, media, settings
):
    settings.SELLERDESK_ATTACHMENT_MAX_BYTES = 1024 * 1024

    response = client_for(alice).post(
        reverse("portal:new"),
        {
            "kind": "request",
            "subject": "Katalog yükleme",
            "body": "Dosya ekte.",
            "order_ref": "ORD-5",
            "attachments": [upload("katalog.csv", b"x" * (1024 * 1024 + 1), "text/csv")],
        },
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "katalog.csv is larger than the limit of 1.0\xa0MB" in html
    assert 'role="alert"' in html
    # What was typed is kept; the file has to be chosen again, and the page says so.
    assert 'value="Katalog yükleme"' in html
    assert "Dosya ekte." in html
    assert 'value="ORD-5"' in html
    assert '<option value="request" selected>' in html
    assert "please choose them again" in html
    assert not Conversation.objects.exists()
    assert not Attachment.objects.exists()
    assert not any(p.is_file() for p in media.rglob("*"))


def test_too_many_attachments_are_refused(client_for, alice, media, settings):
    settings.SELLERDESK_ATTACHMENTS_PER_MESSAGE = 1

    response = client_for(alice).post(
        reverse("portal:new"),
        {
            "kind": "question",
            "subject": "s",
            "body": "b",
            "attachments": [upload("a.txt"), upload("b.txt")],
        },
    )

    assert response.status_code == 400
    assert "at most 1 attachment a message" in response.content.decode()
    assert not Conversation.objects.exists()


def test_a_form_with_missing_fields_shows_the_errors_beside_them_and_keeps_the_text(
    client_for, alice
):
    response = client_for(alice).post(
        reverse("portal:new"), {"kind": "question", "subject": "", "body": "Metin burada."}
    )

    html = response.content.decode()
    assert response.status_code == 400
    label = html.index('<label for="id_subject">')
    error = html.index('<p class="errors" role="alert"', label)
    assert error < html.index('id="id_subject"', label + 30)
    assert "This field is required." in html[error : error + 200]
    assert "Metin burada." in html
    assert not Conversation.objects.exists()


def test_an_unknown_kind_is_refused(client_for, alice):
    response = client_for(alice).post(
        reverse("portal:new"), {"kind": "refund", "subject": "s", "body": "b"}
    )
    assert response.status_code == 400
    assert not Conversation.objects.exists()


def test_a_message_of_only_white_space_is_refused(client_for, alice):
    response = client_for(alice).post(
        reverse("portal:new"), {"kind": "question", "subject": "Konu", "body": "   \n  "}
    )
    assert response.status_code == 400
    assert 'value="Konu"' in response.content.decode()
    assert not Conversation.objects.exists()


# --- The thread, replies, solving -------------------------------------------------------------


def test_replying_to_a_pending_conversation_reopens_it_and_clears_the_deadline(
    client_for, alice, agent, acme_conversation, media
):
    reply_post(conversation=acme_conversation, author=agent, body="Dekontu gönderir misiniz?")
    conversation_change_status(conversation=acme_conversation, status="pending", actor=agent)
    acme_conversation.refresh_from_db()
    assert acme_conversation.merchant_due_at is not None
    client = client_for(alice)

    response = client.post(
        reverse("portal:reply", args=[acme_conversation.pk]),
        {"body": "Dekont ekte.", "attachments": [upload("dekont.pdf")]},
    )

    message = acme_conversation.messages.order_by("-id").first()
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("portal:detail", args=[acme_conversation.pk]) + f"#m-{message.pk}"
    )
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "open"
    assert acme_conversation.merchant_due_at is None
    assert (message.body, message.public, message.author_user) == ("Dekont ekte.", True, alice)
    assert message.attachments.get().filename == "dekont.pdf"
    html = client.get(response["Location"]).content.decode()
    assert "Your reply has been sent." in html
    assert "Please answer by" not in html
    assert f'id="m-{message.pk}"' in html


def test_a_reply_may_be_an_attachment_alone(client_for, alice, acme_conversation, media):
    response = client_for(alice).post(
        reverse("portal:reply", args=[acme_conversation.pk]),
        {"body": "", "attachments": [upload("foto.png", b"\x89PNG", "image/png")]},
    )
    assert response.status_code == 302
    assert acme_conversation.attachments.get().filename == "foto.png"


def test_an_empty_reply_is_refused_beside_the_form(client_for, alice, acme_conversation):
    response = client_for(alice).post(
        reverse("portal:reply", args=[acme_conversation.pk]), {"body": "  "}
    )

    html = response.content.decode()
    assert response.status_code == 400
    reply = section(html, "reply-heading")
    assert 'role="alert"' in reply
    assert "write a message" in reply
    assert acme_conversation.messages.count() == 1


def test_an_over_limit_reply_attachment_is_refused_and_the_text_kept(
    client_for, alice, acme_conversation, media, settings
):
    settings.SELLERDESK_ATTACHMENT_MAX_BYTES = 1024 * 1024

    response = client_for(alice).post(
        reverse("portal:reply", args=[acme_conversation.pk]),
        {"body": "Büyük dosya", "attachments": [upload("big.bin", b"\0" * (1024 * 1024 + 1))]},
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "big.bin is larger than the limit of 1.0\xa0MB" in section(html, "reply-heading")
    assert "Büyük dosya</textarea>" in html
    assert acme_conversation.messages.count() == 1
    assert not Attachment.objects.exists()


def test_the_deadline_shows_in_words(client_for, alice, agent):
    with time_machine.travel(dt.datetime(2025, 11, 26, 9, 0, tzinfo=dt.UTC), tick=False):
        conversation = merchant_conversation_open(
            user=alice, kind="request", subject="Mağaza adı", body="Adı değiştirin."
        )
        conversation_change_status(conversation=conversation, status="pending", actor=agent)
        client = client_for(alice)

        detail = client.get(reverse("portal:detail", args=[conversation.pk])).content.decode()
        listing = client.get(reverse("portal:list")).content.decode()

    assert "Please answer by 3 December." in detail
    assert 'class="deadline"' in detail
    assert "Waiting for your answer" in detail
    assert ">3 December</time>" in section(listing, "open-heading")


def test_a_deadline_in_another_year_shows_the_year(client_for, alice, agent):
    with time_machine.travel(dt.datetime(2025, 12, 28, 9, 0, tzinfo=dt.UTC), tick=False):
        conversation = merchant_conversation_open(
            user=alice, kind="request", subject="Mağaza adı", body="Adı değiştirin."
        )
        conversation_change_status(conversation=conversation, status="pending", actor=agent)

        html = client_for(alice).get(reverse("portal:detail", args=[conversation.pk]))

    assert "Please answer by 4 January 2026." in html.content.decode()


def test_the_deadline_day_is_the_merchants_day():
    if not dates._zones_by_country():
        pytest.skip("this system has no zone.tab")
    today = dt.date(2025, 11, 26)
    # 22:30 UTC is already the next day in Istanbul.
    late = dt.datetime(2025, 12, 2, 22, 30, tzinfo=dt.UTC)
    assert dates.day_in_words(dates.merchant_day(late, "TR"), today=today) == "3 December"
    # A country of several zones: the earliest day among them, never a later one than due.
    early = dt.datetime(2025, 12, 4, 2, 0, tzinfo=dt.UTC)  # 21:00 on the 3rd in New York
    assert dates.merchant_day(early, "US") == dt.date(2025, 12, 3)
    assert dates.merchant_day(early, "XX") == dt.date(2025, 12, 4)  # unknown: the site's zone
    assert dates.day_in_words(dt.date(2026, 1, 4), today=today) == "4 January 2026"


def test_internal_notes_never_appear_in_the_portal(
    client_for, alice, agent, acme_conversation, media
):
    reply_post(
        conversation=acme_conversation,
        author=agent,
        body="INTERNAL: merchant flagged for review",
        public=False,
        files=[upload("risk-report.pdf", b"secret")],
    )
    reply_post(conversation=acme_conversation, author=agent, body="Kontrol ediyoruz.")
    note_file = Attachment.objects.get(filename="risk-report.pdf")
    client = client_for(alice)

    html = client.get(reverse("portal:detail", args=[acme_conversation.pk])).content.decode()

    assert "INTERNAL" not in html
    assert "risk-report.pdf" not in html
    assert "Kontrol ediyoruz." in html
    assert 'class="message agent"' in html
    url = reverse("portal:attachment", args=[acme_conversation.pk, note_file.pk])
    assert client.get(url).status_code == 404


def test_marking_solved(client_for, alice, acme_conversation):
    client = client_for(alice)

    response = client.post(reverse("portal:solve", args=[acme_conversation.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:detail", args=[acme_conversation.pk])
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "solved"
    html = client.get(response["Location"]).content.decode()
    assert "Marked as solved." in html
    assert reverse("portal:solve", args=[acme_conversation.pk]) not in html  # nothing to solve
    listing = client.get(reverse("portal:list")).content.decode()
    assert "Ödeme gecikti" in section(listing, "past-heading")


def test_a_reply_to_a_solved_conversation_reopens_it(client_for, alice, acme_conversation):
    conversation_change_status(conversation=acme_conversation, status="solved", actor=alice)

    response = client_for(alice).post(
        reverse("portal:reply", args=[acme_conversation.pk]), {"body": "Bir şey daha"}
    )

    assert response.status_code == 302
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "open"


# --- Text: any script, never markup -----------------------------------------------------------


def test_text_in_any_script_round_trips(client_for, alice):
    subject = "退款问题 · 환불 문의 · Возврат средств · İade"
    body = "你好，我的订单还没有退款。\n안녕하세요, 환불이 안 됐어요.\nЗдравствуйте, деньги не вернули.\nTeşekkürler — ğüşıöç"
    client = client_for(alice)

    response = client.post(
        reverse("portal:new"), {"kind": "question", "subject": subject, "body": body}
    )

    conversation = Conversation.objects.get()
    assert (conversation.subject, conversation.messages.get().body) == (subject, body)
    page = client.get(response["Location"])
    html = page.content.decode("utf-8")
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert f'<h1 id="conversation-heading">{subject}</h1>' in html
    assert f'<div class="body">{body}</div>' in html
    assert subject in client.get(reverse("portal:list")).content.decode()

    client.post(
        reverse("portal:reply", args=[conversation.pk]), {"body": "谢谢！감사합니다! Спасибо!"}
    )
    assert "谢谢！감사합니다! Спасибо!" in client.get(response["Location"]).content.decode()


def test_markup_in_subject_body_and_file_names_is_shown_as_text(client_for, alice, media):
    client = client_for(alice)
    client.post(
        reverse("portal:new"),
        {
            "kind": "complaint",
            "subject": "<script>alert('s')</script>",
            "body": '<img src=x onerror="alert(1)">&amp;',
            "order_ref": '"><b>ref</b>',
            "attachments": [upload('"><svg onload=alert(2)>.txt', b"x", "text/plain")],
        },
    )
    conversation = Conversation.objects.get()

    for url in (reverse("portal:detail", args=[conversation.pk]), reverse("portal:list")):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#x27;s&#x27;)&lt;/script&gt;" in html
        assert "<img src=x" not in html
        assert "<svg" not in html
        assert "<b>ref</b>" not in html
    html = client.get(reverse("portal:detail", args=[conversation.pk])).content.decode()
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;" in html


# --- Pages: accessible, and a fixed number of queries -----------------------------------------


def test_pages_label_every_input_and_keep_their_headings_in_order(
    client_for, alice, acme_conversation
):
    client = client_for(alice)
    pages = [
        client.get(reverse("portal:list")),
        client.get(reverse("portal:new")),
        client.post(reverse("portal:new"), {"kind": "question"}),  # with errors
        client.get(reverse("portal:detail", args=[acme_conversation.pk])),
    ]

    for response in pages:
        page = parse(response)
        assert page.headings[0] == 1
        assert page.headings.count(1) == 1
        for before, after in zip(page.headings, page.headings[1:], strict=False):
            assert after <= before + 1, page.headings
        for control in page.controls:
            assert control.get("id") in page.label_fors, control
        assert page.described_by <= page.ids
        for form in page.forms:
            if form.get("enctype"):
                assert form["method"] == "post"


def test_the_list_takes_a_fixed_number_of_queries(
    client_for, alice, agent, django_assert_max_num_queries
):
    for i in range(12):
        c = merchant_conversation_open(user=alice, kind="question", subject=f"Soru {i}", body="?")
        if i % 3 == 0:
            conversation_change_status(conversation=c, status="pending", actor=agent)
        if i % 4 == 0:
            conversation_change_status(conversation=c, status="solved", actor=agent)
    client = client_for(alice)

    with django_assert_max_num_queries(6):
        response = client.get(reverse("portal:list"))
    assert response.content.decode().count('class="badge status-') == 12


def test_the_thread_takes_a_fixed_number_of_queries(
    client_for, alice, agent, acme_conversation, media, django_assert_max_num_queries
):
    for i in range(6):
        reply_post(conversation=acme_conversation, author=agent, body=f"Cevap {i}")
        reply_post(
            conversation=acme_conversation,
            author=alice,
            body=f"Yanıt {i}",
            files=[upload(f"ek-{i}.pdf"), upload(f"ek-{i}b.pdf")],
        )
    client = client_for(alice)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("portal:detail", args=[acme_conversation.pk]))
    assert response.content.decode().count("ek-") == 12
