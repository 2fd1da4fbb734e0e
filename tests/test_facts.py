"""report.md's per-conversation definitions, as unit tests of ``conversations/facts.py``."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sellerdesk.conversations.facts import (
    MessageFact,
    StatusFact,
    Stretch,
    derive,
    first_response,
    resolution_stretches,
    seconds_between,
)
from tests.builders import at

CREATED = at()


def msg(author: str, minutes: float, *, public: bool = True) -> MessageFact:
    return MessageFact(author, public, at(minutes=minutes))


def changes(*items: tuple[str, float]) -> list[StatusFact]:
    """Status changes in array order (seq 1, 2, ...) at minutes after T0."""
    return [
        StatusFact(value, at(minutes=minutes), seq) for seq, (value, minutes) in enumerate(items, 1)
    ]


# --- first response ---------------------------------------------------------------------------


def test_a_public_agent_message_is_the_first_response():
    assert first_response(CREATED, [msg("merchant", 0), msg("agent", 12)]) == at(minutes=12)


def test_an_internal_note_is_not_a_response():
    assert first_response(CREATED, [msg("agent", 5, public=False)]) is None
    assert first_response(CREATED, [msg("agent", 5, public=False), msg("agent", 9)]) == at(
        minutes=9
    )


def test_a_system_auto_reply_is_not_a_response():
    assert first_response(CREATED, [msg("system", 0), msg("system", 1)]) is None
    assert first_response(CREATED, [msg("system", 0), msg("agent", 30)]) == at(minutes=30)


def test_merchant_messages_are_not_responses():
    assert first_response(CREATED, [msg("merchant", 0), msg("merchant", 3)]) is None


def test_the_earliest_response_counts_whatever_order_messages_come_in():
    messages = [msg("agent", 40), msg("agent", 7), msg("merchant", 0), msg("agent", 19)]
    assert first_response(CREATED, messages) == at(minutes=7)
    assert first_response(CREATED, list(reversed(messages))) == at(minutes=7)


def test_a_response_dated_before_created_at_does_not_count():
    assert first_response(CREATED, [msg("agent", -1), msg("agent", 2)]) == at(minutes=2)
    assert first_response(CREATED, [msg("agent", -0.01)]) is None


def test_a_response_at_the_very_moment_of_filing_counts():
    assert first_response(CREATED, [msg("agent", 0)]) == CREATED


def test_no_messages_no_first_response():
    assert first_response(CREATED, []) is None


# --- resolution stretches ---------------------------------------------------------------------


def test_no_status_change_means_new_and_unresolved():
    assert resolution_stretches([]) == ("new", ())


def test_a_solve_opens_a_stretch_that_stays_open():
    assert resolution_stretches(changes(("open", 1), ("solved", 10))) == (
        "solved",
        (Stretch(at(minutes=10), None),),
    )


def test_reopened_conversation_counts_its_last_solve():
    status, stretches = resolution_stretches(
        changes(("open", 1), ("solved", 10), ("open", 20), ("pending", 25), ("solved", 30))
    )
    assert status == "solved"
    assert stretches == (Stretch(at(minutes=10), at(minutes=20)), Stretch(at(minutes=30), None))
    assert derive(
        CREATED, [], changes(("solved", 10), ("open", 20), ("solved", 30))
    ).resolved_at == (at(minutes=30))


def test_solved_then_closed_is_one_stretch_that_starts_at_the_solve():
    status, stretches = resolution_stretches(changes(("solved", 10), ("closed", 60)))
    assert status == "closed"
    assert stretches == (Stretch(at(minutes=10), None),)


def test_closed_then_solved_is_still_one_stretch():
    assert resolution_stretches(changes(("closed", 10), ("solved", 60)))[1] == (
        Stretch(at(minutes=10), None),
    )


def test_closed_without_a_solve_counts_the_close():
    status, stretches = resolution_stretches(changes(("open", 5), ("on_hold", 8), ("closed", 45)))
    assert (status, stretches) == ("closed", (Stretch(at(minutes=45), None),))


def test_a_solve_straight_from_no_status_counts():
    assert resolution_stretches(changes(("solved", 0)))[1] == (Stretch(CREATED, None),)


def test_a_change_out_of_solved_ends_the_stretch_and_clears_resolved_at():
    facts = derive(CREATED, [], changes(("solved", 10), ("pending", 15)))
    assert facts.status == "pending"
    assert facts.resolved_at is None
    assert facts.stretches == (Stretch(at(minutes=10), at(minutes=15)),)


def test_status_changes_are_ordered_by_time_not_by_arrival():
    # In array order: solved at 30, open at 10; by time: open, then solved.
    arrived = [StatusFact("solved", at(minutes=30), 1), StatusFact("open", at(minutes=10), 2)]
    assert resolution_stretches(arrived) == ("solved", (Stretch(at(minutes=30), None),))


def test_same_timestamp_status_changes_are_ordered_by_array_position():
    reopened = [StatusFact("solved", at(minutes=5), 1), StatusFact("open", at(minutes=5), 2)]
    assert resolution_stretches(reopened)[0] == "open"
    resolved = [StatusFact("open", at(minutes=5), 1), StatusFact("solved", at(minutes=5), 2)]
    assert resolution_stretches(resolved) == ("solved", (Stretch(at(minutes=5), None),))
    # ... whatever order the list itself is in
    assert resolution_stretches(list(reversed(reopened)))[0] == "open"
    assert resolution_stretches(list(reversed(resolved)))[0] == "solved"


def test_derive_gives_status_time_first_response_and_resolution():
    facts = derive(
        CREATED,
        [msg("merchant", 0), msg("system", 0), msg("agent", 3, public=False), msg("agent", 81)],
        changes(("open", 81), ("solved", 120)),
    )
    assert facts.status == "solved"
    assert facts.status_changed_at == at(minutes=120)
    assert facts.first_response_at == at(minutes=81)
    assert facts.resolved_at == at(minutes=120)
    assert seconds_between(CREATED, facts.first_response_at) == 4860.0


def test_status_changed_at_is_the_latest_change_even_when_listed_first():
    facts = derive(
        CREATED, [], [StatusFact("closed", at(hours=5), 1), StatusFact("open", at(1), 2)]
    )
    assert facts.status_changed_at == at(hours=5)


def test_seconds_between_keeps_fractions_and_passes_none_through():
    assert seconds_between(CREATED, at(2.5)) == 2.5
    assert seconds_between(CREATED, None) is None


# --- the stored stretches answer "as of" questions exactly as report.md defines them -----------

RESOLVED = {"solved", "closed"}


def reference_resolution_moment(created: datetime, events: list[StatusFact], as_of: datetime):
    """report.md, read literally: the status at as_of is the last change at or before it; the
    resolution moment is the last change into solved/closed from any other status."""
    ordered = sorted((c for c in events if c.at <= as_of), key=lambda c: (c.at, c.seq))
    previous = "new"
    moment = None
    for change in ordered:
        if change.status in RESOLVED and previous not in RESOLVED:
            moment = change.at
        previous = change.status
    return moment if previous in RESOLVED else None


def stored_resolution_moment(created: datetime, events: list[StatusFact], as_of: datetime):
    """What the report engine reads: the stored facts when nothing changed after as_of, else the
    stretch that covered as_of."""
    facts = derive(created, [], events)
    if facts.status_changed_at is None or facts.status_changed_at <= as_of:
        return facts.resolved_at
    for stretch in facts.stretches:
        if stretch.started_at <= as_of and (stretch.ended_at is None or stretch.ended_at > as_of):
            return stretch.started_at
    return None


STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"]


@given(
    events=st.lists(
        st.tuples(st.sampled_from(STATUSES), st.integers(min_value=0, max_value=8)), max_size=9
    ),
    as_of_minutes=st.integers(min_value=-1, max_value=9),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_stored_stretches_give_the_resolution_moment_of_any_as_of(events, as_of_minutes, seed):
    listed = [StatusFact(value, at(minutes=m), seq) for seq, (value, m) in enumerate(events, 1)]
    random.Random(seed).shuffle(listed)  # arrival order must not matter, only (at, seq)
    as_of = at(minutes=as_of_minutes)
    assert stored_resolution_moment(CREATED, listed, as_of) == reference_resolution_moment(
        CREATED, listed, as_of
    )


@given(
    messages=st.lists(
        st.tuples(
            st.sampled_from(["merchant", "agent", "system"]),
            st.booleans(),
            st.integers(min_value=-5, max_value=50),
        ),
        max_size=8,
    )
)
def test_first_response_is_the_earliest_public_agent_message_not_before_filing(messages):
    facts = [MessageFact(a, public, CREATED + timedelta(minutes=m)) for a, public, m in messages]
    expected = [f.created_at for f in facts if f.author_type == "agent" and f.public]
    expected = [moment for moment in expected if moment >= CREATED]
    assert first_response(CREATED, facts) == (min(expected) if expected else None)
