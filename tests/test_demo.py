"""sellerdesk demo: deterministic, valid interchange lines that load through the importer and
look like a year of a real multilingual desk."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from itertools import pairwise

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from sellerdesk.conversations.demo import (
    DEVELOPMENT_PASSWORD,
    STAFF_LOGIN,
    demo_generate,
    demo_load,
)
from sellerdesk.conversations.demo.logins import AGENT_LOGIN, MERCHANT_LOGIN
from sellerdesk.conversations.interchange import parse_line
from sellerdesk.conversations.models import Conversation, Macro, Message
from sellerdesk.core.countries import EU_MEMBERS
from sellerdesk.core.timeutil import parse_rfc3339
from sellerdesk.reports.config import ReportConfig, build_params
from sellerdesk.reports.engine import compute_report

TODAY = date(2025, 11, 26)
NOW = datetime(2025, 11, 26, tzinfo=UTC)


def lines(seed: int, conversations: int, today: date = TODAY) -> list[bytes]:
    objects = demo_generate(seed=seed, conversations=conversations, today=today)
    return [json.dumps(o, ensure_ascii=False).encode() for o in objects]


@pytest.fixture(scope="module")
def year() -> list[dict]:
    """A year of 3000 conversations, as the importer would read them."""
    return [json.loads(line) for line in lines(seed=7, conversations=3000)]


def statuses(obj: dict) -> list[str]:
    changes = sorted(obj["status_changes"], key=lambda c: parse_rfc3339(c["at"]))
    return [c["status"] for c in changes]


def test_same_seed_on_the_same_day_gives_identical_lines():
    assert lines(seed=3, conversations=300) == lines(seed=3, conversations=300)
    assert lines(seed=3, conversations=300) != lines(seed=4, conversations=300)
    assert lines(seed=3, conversations=300) != lines(
        seed=3, conversations=300, today=TODAY + timedelta(days=1)
    )


def test_every_generated_line_passes_the_interchange_parser(year):
    for obj in year:
        record = parse_line(json.dumps(obj, ensure_ascii=False).encode())
        assert record.id == obj["id"]


def test_ids_are_demo_ids_so_a_second_load_replaces_the_first(year):
    ids = [o["id"] for o in year]
    assert ids[0] == "demo-000001"
    assert len(set(ids)) == len(ids) == 3000
    assert all(re.fullmatch(r"demo-\d{6}", i) for i in ids)


def test_the_year_ends_at_the_start_of_today(year):
    for obj in year:
        created = parse_rfc3339(obj["created_at"])
        assert NOW - timedelta(days=365) <= created < NOW
        moments = [parse_rfc3339(m["created_at"]) for m in obj["messages"]]
        moments += [parse_rfc3339(c["at"]) for c in obj["status_changes"]]
        assert all(created <= moment <= NOW for moment in moments)
    months = Counter(o["created_at"][:7] for o in year)
    assert len(months) >= 12  # spread over the whole year


def test_all_kinds_channels_and_a_realistic_mix(year):
    kinds = Counter(o["kind"] for o in year)
    assert set(kinds) == {"question", "request", "proposal", "complaint"}
    assert kinds["question"] > kinds["complaint"] > kinds["proposal"] > 0
    assert {o["channel"] for o in year} == {"chat", "email", "web", "api", "phone"}


def test_merchants_across_countries_with_cn_the_largest(year):
    countries = Counter(o["merchant"]["country"] for o in year)
    assert countries.most_common(1)[0][0] == "CN"
    assert {"CN", "TR", "UA", "US", "KR", "IN", "DE"} <= set(countries)
    assert len(set(countries) & EU_MEMBERS) >= 5
    statuses_seen = Counter(o["merchant"]["status"] for o in year)
    assert statuses_seen["potential"] > 0
    assert statuses_seen["suspended"] > 0
    assert statuses_seen["active"] > len(year) * 0.8


def test_a_merchant_who_moved_keeps_the_old_country_on_earlier_conversations(year):
    filings = defaultdict(list)
    for obj in year:
        filings[obj["merchant"]["id"]].append((parse_rfc3339(obj["created_at"]), obj))
    moved = 0
    for items in filings.values():
        items.sort(key=lambda item: item[0])
        countries = [o["merchant"]["country"] for _, o in items]
        if len(set(countries)) > 1:
            moved += 1
            # One move: the country changes once, and every later filing carries the new one.
            changes = sum(1 for a, b in pairwise(countries) if a != b)
            assert changes == 1
    assert moved >= 1


def test_messages_in_the_merchants_languages_and_scripts(year):
    bodies = [m["body"] for o in year for m in o["messages"]]
    scripts = Counter()
    for body in bodies:
        for char in body:
            if char.isalpha():
                name = unicodedata.name(char, "")
                for script in ("CJK", "CYRILLIC", "HANGUL", "DEVANAGARI", "LATIN"):
                    if name.startswith(script):
                        scripts[script] += 1
    assert all(scripts[s] > 0 for s in ("CJK", "CYRILLIC", "HANGUL", "DEVANAGARI", "LATIN"))
    assert any("ş" in b or "ğ" in b for b in bodies)  # Turkish
    assert any("ä" in b or "ß" in b for b in bodies)  # German
    languages = {o["merchant"]["language"] for o in year}
    assert {"zh", "tr", "de", "uk", "ru", "en", "ko", "hi"} <= languages
    assert not any("{" in b and "}" in b for b in bodies)  # every placeholder filled


def test_merchant_messages_agent_replies_internal_notes_and_automatic_messages(year):
    authors = Counter(m["author"]["type"] for o in year for m in o["messages"])
    assert authors["merchant"] > 0
    assert authors["agent"] > 0
    assert authors["system"] > 0
    assert any(m.get("public") is False for o in year for m in o["messages"])


def test_outreach_and_spam_are_present_but_few(year):
    outreach = [o for o in year if o["initiated_by"] == "support"]
    spam = [o for o in year if o.get("spam")]
    assert 0 < len(outreach) < len(year) * 0.1
    assert 0 < len(spam) < len(year) * 0.03
    for obj in outreach:
        first = min(obj["messages"], key=lambda m: parse_rfc3339(m["created_at"]))
        assert first["author"]["type"] == "agent"


def test_status_flows_include_pending_reopenings_and_closing(year):
    flows = [statuses(o) for o in year]
    assert any("pending" in f for f in flows)
    assert any("on_hold" in f for f in flows)
    assert any(f[-2:] == ["solved", "closed"] for f in flows if len(f) >= 2)

    def reopened(flow: list[str]) -> bool:
        solved = [i for i, s in enumerate(flow) if s == "solved"]
        return len(solved) >= 2 and "open" in flow[solved[0] : solved[-1]]

    assert any(reopened(f) for f in flows)
    assert any(not f for f in flows)  # filed just before the year's end: still new


def test_complaints_carry_outcomes_and_some_are_undecided(year):
    complaints = [o for o in year if o["kind"] == "complaint"]
    outcomes = Counter(o.get("outcome") for o in complaints)
    assert {"upheld", "partially_upheld", "rejected", "withdrawn", "no_action"} <= set(outcomes)
    assert outcomes[None] > 0
    assert all("outcome" not in o or o["outcome"] is None for o in year if o["kind"] != "complaint")


def test_tags_are_the_marketplace_seed_tags_often_together(year):
    tags = Counter(t for o in year for t in o["tags"])
    for tag in (
        "payment_delay", "moderation_too_long", "moderation_image", "moderation_description",
        "product_rejected", "category_question", "order_cancel", "order_fulfillment_extend",
        "refund_request", "address_incomplete", "no_phone", "account_issues", "commission_question",
    ):  # fmt: skip
        assert tags[tag] > 0, tag
    assert sum(1 for o in year if len(o["tags"]) >= 2) > len(year) * 0.2
    assert sum(1 for o in year if {"address_incomplete", "no_phone"} <= set(o["tags"])) > 0


@pytest.mark.django_db
def test_the_command_loads_the_conversations_and_demo_logins_for_each_role():
    out = StringIO()
    call_command("demo", "--conversations", "250", "--seed", "2", stdout=out)
    assert Conversation.objects.count() == 250
    assert Message.objects.filter(conversation__external_id="demo-000001").exists()
    text = out.getvalue()
    assert "250 conversations" in text
    users = get_user_model().objects
    for role, email in (
        ("admin", STAFF_LOGIN),
        ("agent", AGENT_LOGIN),
        ("merchant user of", MERCHANT_LOGIN),
    ):
        assert f"Demo login ({role}" in text
        assert f"{email} / {DEVELOPMENT_PASSWORD}" in text
        assert users.get(email=email).check_password(DEVELOPMENT_PASSWORD)
    admin = users.get(email=STAFF_LOGIN)
    assert admin.is_staff
    assert admin.is_superuser
    agent = users.get(email=AGENT_LOGIN)
    assert agent.is_agent
    assert not agent.is_staff
    assert agent.teams.filter(name="EU team").exists()
    merchant_user = users.get(email=MERCHANT_LOGIN)
    assert merchant_user.merchant.conversations.exists()
    assert Macro.objects.count() >= 3


@pytest.mark.django_db
def test_if_empty_does_nothing_when_conversations_exist_and_a_rerun_replaces():
    call_command("demo", "--conversations", "120", stdout=StringIO())
    out = StringIO()
    call_command("demo", "--conversations", "300", "--if-empty", stdout=out)
    assert Conversation.objects.count() == 120
    assert "already there" in out.getvalue()
    call_command("demo", "--conversations", "120", stdout=StringIO())
    assert Conversation.objects.count() == 120


@pytest.mark.django_db
def test_production_mode_refuses_to_write_without_allow_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match=r"Production mode.*--allow-production"):
        call_command("demo", "--conversations", "20", stdout=StringIO())
    assert Conversation.objects.count() == 0
    assert not get_user_model().objects.filter(email=STAFF_LOGIN).exists()


@pytest.mark.django_db
def test_production_mode_gets_a_random_password_never_the_known_one(settings):
    settings.PRODUCTION = True
    user_model = get_user_model()
    user_model.objects.create_user(STAFF_LOGIN, password=DEVELOPMENT_PASSWORD)
    out = StringIO()
    call_command("demo", "--conversations", "20", "--allow-production", stdout=out)
    for email in (STAFF_LOGIN, AGENT_LOGIN, MERCHANT_LOGIN):
        password = re.search(rf"{re.escape(email)} / (\S+)", out.getvalue())[1]
        assert password != DEVELOPMENT_PASSWORD
        user = user_model.objects.get(email=email)
        assert user.check_password(password)
        assert not user.check_password(DEVELOPMENT_PASSWORD)


@pytest.mark.django_db
def test_the_report_over_demo_data_has_response_and_resolution_times():
    result = demo_load(seed=11, conversations=800, today=TODAY)
    assert result.conversations == 800
    assert result.merchants > 50
    params = build_params(ReportConfig(), "2024-11-26", "2025-11-26")
    (figures,) = compute_report(params).segments
    assert figures.conversations > 600  # merchant-filed, not spam
    assert all(figures.by_kind[kind] > 0 for kind in figures.by_kind)
    assert figures.responded > figures.conversations * 0.9
    assert 60 < figures.first_response.median < 2 * 86400  # minutes to hours, not zero
    assert figures.first_response.mean > figures.first_response.median  # a long tail
    assert figures.resolved > figures.conversations * 0.9
    assert 0 < figures.resolution.median < figures.resolution.mean
    assert figures.complaints > 0
    assert all(count > 0 for count in figures.outcomes.values())  # and some undecided
    assert figures.complaint_resolution.mean > 0
    assert figures.tags
    assert figures.tag_pairs
