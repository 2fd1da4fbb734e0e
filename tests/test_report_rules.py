"""report.md's figures end to end: hand-written lines imported, then `compute_report`."""

from __future__ import annotations

import pytest

from sellerdesk.conversations.models import Conversation
from tests.builders import (
    conversation,
    import_ok,
    message,
    only_segment,
    report,
    responded,
    segment,
    solved,
    status,
    ts,
)

pytestmark = pytest.mark.django_db

EU_27 = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
]  # fmt: skip


def timing(mean, median):
    return {"mean": mean, "median": median}


# --- first response -----------------------------------------------------------------------------


def test_internal_notes_and_system_replies_are_not_responses():
    import_ok(
        conversation(
            "c-1",
            messages=[
                message("1", author="merchant"),
                message("2", author="system", created_at=ts(1), body="We got your message"),
                message("3", author="agent", public=False, created_at=ts(60), body="note"),
            ],
        ),
        conversation(
            "c-2",
            messages=[
                message("1", author="system", created_at=ts(5)),
                message("2", author="agent", public=False, created_at=ts(10)),
                message("3", author="agent", created_at=ts(4860)),
            ],
        ),
    )
    figures = only_segment()
    assert figures["responded"] == 1
    assert figures["first_response_seconds"] == timing(4860.0, 4860.0)


def test_an_agent_reply_at_the_moment_of_filing_is_a_zero_second_response():
    import_ok(responded("c-1", after=0))
    figures = only_segment()
    assert figures["responded"] == 1
    assert figures["first_response_seconds"] == timing(0.0, 0.0)


def test_the_earliest_public_agent_reply_counts_whatever_its_place_in_the_array():
    obj = conversation(
        "c-1",
        messages=[
            message("3", created_at=ts(900)),
            message("1", author="merchant"),
            message("2", created_at=ts(120.5)),
        ],
    )
    import_ok(obj)
    assert only_segment()["first_response_seconds"] == timing(120.5, 120.5)


# --- resolution ---------------------------------------------------------------------------------


def resolution_of(*changes: dict) -> dict:
    import_ok(conversation("c-1", status_changes=list(changes)))
    figures = only_segment()
    return {"resolved": figures["resolved"], **figures["resolution_seconds"]}


def test_reopened_conversation_counts_its_last_solve():
    assert resolution_of(
        status("open", ts(60)),
        status("solved", ts(600)),
        status("open", ts(1200)),
        status("solved", ts(3600)),
    ) == {"resolved": 1, "mean": 3600.0, "median": 3600.0}


def test_solved_then_closed_counts_the_solve():
    assert resolution_of(status("solved", ts(600)), status("closed", ts(86400))) == {
        "resolved": 1,
        "mean": 600.0,
        "median": 600.0,
    }


def test_closed_without_a_solve_counts_the_close():
    assert resolution_of(status("open", ts(60)), status("closed", ts(7200))) == {
        "resolved": 1,
        "mean": 7200.0,
        "median": 7200.0,
    }


def test_a_conversation_reopened_after_its_solve_is_not_resolved():
    assert resolution_of(status("solved", ts(600)), status("pending", ts(700))) == {
        "resolved": 0,
        "mean": None,
        "median": None,
    }


def test_status_changes_are_read_in_time_order_not_array_order():
    assert resolution_of(
        status("solved", ts(900)), status("open", ts(60)), status("pending", ts(300))
    ) == {"resolved": 1, "mean": 900.0, "median": 900.0}


def test_same_timestamp_status_changes_are_ordered_by_array_position():
    import_ok(
        conversation(
            "reopened", status_changes=[status("solved", ts(600)), status("open", ts(600))]
        ),
        conversation(
            "resolved", status_changes=[status("open", ts(600)), status("solved", ts(600))]
        ),
    )
    assert Conversation.objects.get(external_id="reopened").status == "open"
    figures = only_segment()
    assert figures["resolved"] == 1
    assert figures["resolution_seconds"] == timing(600.0, 600.0)


def test_same_timestamp_order_holds_when_as_of_is_that_moment():
    import_ok(
        conversation(
            "c-1",
            status_changes=[
                status("solved", ts(100)),
                status("open", ts(600)),
                status("solved", ts(600)),
                status("open", ts(900)),
            ],
        )
    )
    assert only_segment(as_of=ts(600))["resolution_seconds"] == timing(600.0, 600.0)


# --- as_of --------------------------------------------------------------------------------------


def test_conversations_created_after_as_of_are_not_counted():
    import_ok(conversation("before"), conversation("at-as-of", created_at=ts(60)))
    import_ok(conversation("after", created_at=ts(61)))
    assert only_segment(as_of=ts(60))["conversations"] == 2


def test_responses_after_as_of_are_ignored():
    import_ok(responded("c-1", after=3600), responded("c-2", after=60))
    figures = only_segment(as_of=ts(1800))
    assert figures["responded"] == 1
    assert figures["first_response_seconds"] == timing(60.0, 60.0)
    assert only_segment(as_of=ts(3600))["responded"] == 2


def test_status_changes_after_as_of_are_ignored():
    import_ok(solved("c-1", after=7200))
    assert only_segment(as_of=ts(7199))["resolved"] == 0
    assert only_segment(as_of=ts(7200))["resolved"] == 1


@pytest.mark.parametrize(
    ("as_of", "resolved_after"),
    [
        (ts(59), None),  # before the first solve
        (ts(60), 60.0),  # at the first solve
        (ts(100), 60.0),  # first stretch
        (ts(120), None),  # reopened
        (ts(150), None),
        (ts(180), 180.0),  # solved again
        (ts(200), 180.0),  # solved then closed: still the second solve
        (ts(240), None),  # reopened a second time
        (ts(300), 300.0),  # closed without a solve before it
        (ts(10_000), 300.0),
    ],
)
def test_as_of_finds_the_resolution_of_each_stretch(as_of, resolved_after):
    import_ok(
        conversation(
            "c-1",
            status_changes=[
                status("closed", ts(300)),
                status("open", ts(30)),
                status("solved", ts(60)),
                status("open", ts(120)),
                status("solved", ts(180)),
                status("closed", ts(190)),
                status("pending", ts(240)),
            ],
        )
    )
    figures = only_segment(as_of=as_of)
    assert figures["resolved"] == (0 if resolved_after is None else 1)
    assert figures["resolution_seconds"]["mean"] == resolved_after


# --- population ---------------------------------------------------------------------------------


def test_outreach_by_the_desk_is_not_counted():
    import_ok(conversation("filed"), responded("outreach", after=10, initiated_by="support"))
    figures = only_segment()
    assert (figures["conversations"], figures["responded"]) == (1, 0)


def test_spam_is_kept_but_not_counted():
    import_ok(conversation("real"), solved("junk", after=10, spam=True, tags=["spam_tag"]))
    figures = only_segment()
    assert (figures["conversations"], figures["resolved"], figures["tags"]) == (1, 0, [])
    assert Conversation.objects.filter(spam=True).count() == 1


@pytest.mark.parametrize("merchant_status", ["potential", "active", "suspended", "closed"])
def test_merchants_of_every_status_are_counted(merchant_status):
    obj = conversation("c-1")
    obj["merchant"]["status"] = merchant_status
    import_ok(obj)
    assert only_segment()["conversations"] == 1


def test_the_period_includes_its_start_and_excludes_its_end():
    import_ok(
        conversation("too-early", created_at="2022-02-28T23:59:59Z"),
        conversation("first", created_at="2022-03-01T00:00:00Z"),
        conversation("last", created_at="2022-03-31T23:59:59.5Z"),
        conversation("too-late", created_at="2022-04-01T00:00:00Z"),
    )
    assert only_segment(start="2022-03-01", end="2022-04-01")["conversations"] == 2
    assert (
        only_segment(start="2022-03-01T00:00:00Z", end="2022-03-31T23:59:59.5Z")["conversations"]
        == 1
    )


# --- segments -----------------------------------------------------------------------------------


def test_eu_means_the_27_member_states():
    others = ["GB", "CH", "NO", "IS", "TR", "UA", "US", "CN"]
    import_ok(*(conversation(f"c-{code}", country=code) for code in [*EU_27, *others]))
    data = report(
        segment=[
            {"name": "EU", "countries": ["EU"]},
            {"name": "eu", "countries": ["eu"]},
            {"name": "EU+TR", "countries": ["EU", "tr"]},
        ]
    )
    assert len(EU_27) == 27
    assert segment(data, "EU")["conversations"] == 27
    assert segment(data, "eu")["conversations"] == 27
    assert segment(data, "EU+TR")["conversations"] == 28


def test_star_means_every_country_and_makes_other_entries_redundant():
    import_ok(*(conversation(f"c-{code}", country=code) for code in ["TR", "CN", "AQ", "KR"]))
    data = report(
        segment=[
            {"name": "all", "countries": ["*"]},
            {"name": "all+", "countries": ["TR", "*", "EU"]},
        ]
    )
    everything, redundant = segment(data, "all"), segment(data, "all+")
    assert everything["conversations"] == 4
    assert {**everything, "name": ""} == {**redundant, "name": ""}
    assert report()["segments"][0]["name"] == "All merchants"
    assert report()["segments"][0]["conversations"] == 4


def test_overlapping_segments_are_computed_independently():
    import_ok(
        solved("tr-1", after=10, country="TR"),
        solved("tr-2", after=20, country="TR"),
        solved("de-1", after=1000, country="DE"),
        solved("cn-1", after=40, country="CN", kind="complaint"),
    )
    data = report(
        segment=[
            {"name": "TR", "countries": ["TR"]},
            {"name": "EU", "countries": ["EU"]},
            {"name": "EU+TR", "countries": ["EU", "TR"]},
            {"name": "All merchants", "countries": ["*"]},
        ]
    )
    assert segment(data, "TR")["resolution_seconds"] == timing(15.0, 15.0)
    assert segment(data, "EU")["resolution_seconds"] == timing(1000.0, 1000.0)
    assert segment(data, "EU+TR")["resolution_seconds"] == timing(1030 / 3, 20.0)
    everyone = segment(data, "All merchants")
    assert everyone["conversations"] == 4
    assert everyone["resolution_seconds"] == timing(1070 / 4, 30.0)
    assert everyone["complaints"]["count"] == 1
    assert segment(data, "EU+TR")["complaints"]["count"] == 0


def test_a_segment_with_no_conversations_reports_zeros_and_nulls():
    import_ok(conversation("c-1", country="TR"))
    figures = segment(report(segment=[{"name": "KR", "countries": ["KR"]}]), "KR")
    assert figures == {
        "name": "KR",
        "conversations": 0,
        "by_kind": {"question": 0, "request": 0, "proposal": 0, "complaint": 0},
        "responded": 0,
        "first_response_seconds": timing(None, None),
        "resolved": 0,
        "resolution_seconds": timing(None, None),
        "tags": [],
        "tag_pairs": [],
        "topics": [],
        "complaints": {
            "count": 0,
            "outcomes": dict.fromkeys(
                ["upheld", "partially_upheld", "rejected", "withdrawn", "no_action", "undecided"], 0
            ),
            "resolution_seconds": timing(None, None),
        },
    }


def test_by_kind_always_has_all_four_kinds():
    import_ok(conversation("c-1", kind="proposal"), conversation("c-2", kind=None))
    assert only_segment()["by_kind"] == {"question": 1, "request": 0, "proposal": 1, "complaint": 0}


# --- means and medians ----------------------------------------------------------------------


def test_median_of_an_odd_count_is_the_middle_value():
    import_ok(*(responded(f"c-{n}", after=after) for n, after in enumerate([300, 10, 7200])))
    assert only_segment()["first_response_seconds"] == timing(7510 / 3, 300.0)


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values():
    import_ok(*(solved(f"c-{n}", after=after) for n, after in enumerate([1, 100, 4000, 25])))
    assert only_segment()["resolution_seconds"] == timing(4126 / 4, 62.5)


def test_mean_and_median_are_null_when_nothing_was_answered_or_resolved():
    import_ok(conversation("c-1"))
    figures = only_segment()
    assert figures["first_response_seconds"] == timing(None, None)
    assert figures["resolution_seconds"] == timing(None, None)
    assert figures["complaints"]["resolution_seconds"] == timing(None, None)


# --- tags and tag pairs -------------------------------------------------------------------------


def test_tags_are_ordered_by_count_then_normalized_name_by_code_point():
    import_ok(
        conversation("c-1", tags=["z", "Émoji", "Apple", "b", "ÄPFEL", "Zebra"]),
        conversation("c-2", tags=["émoji", "Z", "B", "apple"]),
        conversation("c-3", tags=["ZEBRA"]),
    )
    assert only_segment()["tags"] == [
        {"tag": "apple", "conversations": 2},
        {"tag": "b", "conversations": 2},
        {"tag": "z", "conversations": 2},
        {"tag": "zebra", "conversations": 2},
        {"tag": "émoji", "conversations": 2},  # U+00E9 sorts after every ASCII letter
        {"tag": "äpfel", "conversations": 1},
    ]


def test_top_limits_tags_and_tag_pairs():
    import_ok(
        conversation("c-1", tags=["a", "b", "c"]),
        conversation("c-2", tags=["a", "b"]),
        conversation("c-3", tags=["a"]),
    )
    figures = only_segment(top=2)
    assert figures["tags"] == [{"tag": "a", "conversations": 3}, {"tag": "b", "conversations": 2}]
    assert figures["tag_pairs"] == [
        {"tags": ["a", "b"], "conversations": 2},
        {"tags": ["a", "c"], "conversations": 1},
    ]
    assert len(only_segment(top=1)["tags"]) == 1


def test_tag_pairs_are_ordered_by_count_then_first_then_second_tag_by_code_point():
    import_ok(
        conversation("c-1", tags=["émoji", "Z", "a"]),
        conversation("c-2", tags=["Émoji", "z"]),
        conversation("c-3", tags=["b", "a"]),
    )
    assert only_segment()["tag_pairs"] == [
        {"tags": ["z", "émoji"], "conversations": 2},
        {"tags": ["a", "b"], "conversations": 1},
        {"tags": ["a", "z"], "conversations": 1},
        {"tags": ["a", "émoji"], "conversations": 1},
    ]


def test_a_tag_repeated_on_one_conversation_counts_once():
    import_ok(conversation("c-1", tags=["Refund", "refund ", "REFUND", "late"]))
    figures = only_segment()
    assert figures["tags"] == [
        {"tag": "late", "conversations": 1},
        {"tag": "refund", "conversations": 1},
    ]
    assert figures["tag_pairs"] == [{"tags": ["late", "refund"], "conversations": 1}]


def test_tags_and_pairs_count_only_the_population_of_each_segment():
    tagged = {"tags": ["a", "b"]}
    import_ok(
        conversation("tr", country="TR", **tagged),
        conversation("de", country="DE", **tagged),
        conversation("spam", country="TR", spam=True, **tagged),
        conversation("outreach", country="TR", initiated_by="support", **tagged),
        conversation("before-period", country="TR", created_at="2021-12-31T23:59:59Z", **tagged),
        conversation("after-as-of", country="TR", created_at=ts(days=2), **tagged),
    )
    data = report(
        as_of=ts(days=1),
        segment=[{"name": "TR", "countries": ["TR"]}, {"name": "All", "countries": ["*"]}],
    )
    for name, expected in (("TR", 1), ("All", 2)):
        figures = segment(data, name)
        assert figures["tags"] == [
            {"tag": "a", "conversations": expected},
            {"tag": "b", "conversations": expected},
        ]
        assert figures["tag_pairs"] == [{"tags": ["a", "b"], "conversations": expected}]


def test_a_reimported_conversation_takes_its_tags_to_its_new_country_period_or_spam_state():
    import_ok(conversation("c-1", country="TR", tags=["a", "b"]))
    segments = [{"name": "TR", "countries": ["TR"]}, {"name": "DE", "countries": ["DE"]}]
    assert segment(report(segment=segments), "TR")["tags"][0] == {"tag": "a", "conversations": 1}

    import_ok(conversation("c-1", country="DE", tags=["a", "b"]))
    data = report(segment=segments, topic=[{"name": "A", "any": [["a"]]}])
    assert segment(data, "TR")["tags"] == []
    assert segment(data, "TR")["topics"] == [{"name": "A", "conversations": 0}]
    assert segment(data, "DE")["tag_pairs"] == [{"tags": ["a", "b"], "conversations": 1}]
    assert segment(data, "DE")["topics"] == [{"name": "A", "conversations": 1}]

    import_ok(conversation("c-1", country="DE", tags=["a", "b"], spam=True))
    assert segment(report(segment=segments), "DE")["tags"] == []

    import_ok(conversation("c-1", country="DE", tags=["a"], created_at="2023-06-01T00:00:00Z"))
    assert segment(report(segment=segments), "DE")["tags"] == []
    moved = report(segment=segments, start="2023-01-01", end="2024-01-01")
    assert segment(moved, "DE")["tags"] == [{"tag": "a", "conversations": 1}]


# --- topics -----------------------------------------------------------------------------------

TOPICS = [
    {
        "name": "Cancel an order",
        "any": [["order_cancel"], ["Europe order management", "refund_request"]],
    },
    {"name": "Never seen", "any": [["no_such_tag"], ["order_cancel", "no_such_tag"]]},
    {"name": "Moderation", "any": [["moderation_too_long"], ["product_rejected"]]},
]


def test_topics_match_every_tag_of_at_least_one_set_counted_once_in_config_order():
    import_ok(
        conversation("single", tags=["order_cancel"]),
        conversation(
            "both-sets", tags=["order_cancel", "europe  order management", "refund_request"]
        ),
        conversation("pair", tags=["EUROPE ORDER MANAGEMENT", "refund_request", "x"]),
        conversation("half-pair", tags=["europe order management"]),
        conversation("moderated", tags=["product_rejected", "moderation_too_long"]),
        conversation("untagged"),
    )
    assert only_segment(topic=TOPICS)["topics"] == [
        {"name": "Cancel an order", "conversations": 3},
        {"name": "Never seen", "conversations": 0},
        {"name": "Moderation", "conversations": 1},
    ]


def test_topics_count_only_the_population_of_each_segment():
    import_ok(
        conversation("tr", country="TR", tags=["order_cancel"]),
        conversation("cn", country="CN", tags=["order_cancel"]),
        conversation("spam", country="TR", tags=["order_cancel"], spam=True),
        conversation("outreach", country="TR", tags=["order_cancel"], initiated_by="support"),
    )
    data = report(
        topic=TOPICS[:1],
        segment=[{"name": "TR", "countries": ["TR"]}, {"name": "All", "countries": ["*"]}],
    )
    assert segment(data, "TR")["topics"] == [{"name": "Cancel an order", "conversations": 1}]
    assert segment(data, "All")["topics"] == [{"name": "Cancel an order", "conversations": 2}]


# --- complaints -------------------------------------------------------------------------------


def test_complaint_outcomes_are_counted_with_undecided_for_none():
    outcomes = ["upheld", "upheld", "partially_upheld", "rejected", "withdrawn", "no_action", None]
    import_ok(
        *(conversation(f"k-{n}", kind="complaint", outcome=o) for n, o in enumerate(outcomes)),
        conversation("question-with-outcome", kind="question", outcome="upheld"),
        conversation("request-with-outcome", kind="request", outcome="rejected"),
    )
    complaints = only_segment()["complaints"]
    assert complaints["count"] == 7
    assert complaints["outcomes"] == {
        "upheld": 2,
        "partially_upheld": 1,
        "rejected": 1,
        "withdrawn": 1,
        "no_action": 1,
        "undecided": 1,
    }
    # an outcome on another kind is kept, only not reported
    assert Conversation.objects.get(external_id="question-with-outcome").outcome == "upheld"


def test_complaint_resolution_covers_resolved_complaints_whatever_their_outcome():
    import_ok(
        solved("k-upheld", after=100, kind="complaint", outcome="upheld"),
        solved("k-undecided", after=300, kind="complaint"),
        solved("k-rejected", after=800, kind="complaint", outcome="rejected"),
        solved("k-withdrawn", after=1000, kind="complaint", outcome="withdrawn"),
        conversation("k-open", kind="complaint", outcome="no_action"),
        solved("question", after=5, kind="question", outcome="upheld"),
    )
    figures = only_segment()
    assert figures["complaints"]["count"] == 5
    assert figures["complaints"]["resolution_seconds"] == timing(550.0, 550.0)
    assert figures["resolution_seconds"] == timing(2205 / 5, 300.0)


# --- period in the report's time zone -------------------------------------------------------


def test_period_dates_are_local_midnight_in_the_report_time_zone():
    import_ok(
        conversation("before", created_at="2022-02-28T22:59:59Z"),
        conversation("first", created_at="2022-02-28T23:00:00Z"),  # 00:00 in Berlin
    )
    data = report(timezone="Europe/Berlin", start="2022-03-01", end="2022-04-01")
    assert data["period"] == {
        "start": "2022-03-01T00:00:00+01:00",
        "end": "2022-04-01T00:00:00+02:00",
    }
    assert data["segments"][0]["conversations"] == 1


def test_a_midnight_in_a_dst_gap_means_the_first_instant_after_the_gap():
    # Santiago skipped 2022-09-11 00:00-01:00 (-04 -> -03): the day starts 01:00-03:00 = 04:00Z.
    import_ok(
        conversation("before", created_at="2022-09-11T03:59:59Z"),
        conversation("first", created_at="2022-09-11T04:00:00Z"),
    )
    data = report(timezone="America/Santiago", start="2022-09-11", end="2022-09-12")
    assert data["period"]["start"] == "2022-09-11T01:00:00-03:00"
    assert data["segments"][0]["conversations"] == 1
    havana = report(timezone="America/Havana", start="2022-03-13", end="2022-03-14")
    assert havana["period"]["start"] == "2022-03-13T01:00:00-04:00"


def test_an_ambiguous_midnight_means_its_first_occurrence():
    # Havana repeated 2022-11-06 00:00-01:00 (-04 then -05): the day starts at 04:00Z.
    import_ok(
        conversation("before", created_at="2022-11-06T03:59:59Z"),
        conversation("first-hour", created_at="2022-11-06T04:30:00Z"),
        conversation("repeated-hour", created_at="2022-11-06T05:30:00Z"),
    )
    data = report(timezone="America/Havana", start="2022-11-06", end="2022-11-07")
    assert data["period"]["start"] == "2022-11-06T00:00:00-04:00"
    assert data["segments"][0]["conversations"] == 2


def test_period_and_as_of_are_printed_in_the_report_time_zone():
    data = report(
        timezone="Asia/Kolkata",
        start="2022-03-01T00:00:00Z",
        end="2022-03-02",
        as_of="2026-11-26T12:00:00Z",
    )
    assert data["period"] == {
        "start": "2022-03-01T05:30:00+05:30",
        "end": "2022-03-02T00:00:00+05:30",
    }
    assert data["as_of"] == "2026-11-26T17:30:00+05:30"
    assert data["schema"] == "sellerdesk.report/v1"


def test_as_of_given_as_a_date_is_local_midnight_too():
    data = report(timezone="Europe/Istanbul", as_of="2023-01-01")
    assert data["as_of"] == "2023-01-01T00:00:00+03:00"
