"""Property tests over the two inputs people write by hand: interchange lines and report
configurations. Whatever they hold, the parser either accepts it or refuses it with its own
error and a reason; it never raises anything else, never hangs."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sellerdesk.conversations.interchange import InterchangeError, parse_line
from sellerdesk.reports.config import ReportConfigError, build_params, parse_config
from tests.builders import conversation


def outcome(call: Any, refusal: type[Exception]) -> str:
    """``"accepted"``, or the reason the parser gave; any other exception propagates."""
    try:
        call()
    except refusal as exc:
        return str(exc)
    return "accepted"


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["", "CN", "EU", "*", "2022-01-01T00:00:00Z", "complaint", "solved", "x" * 600]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_are_a_record_or_an_interchange_error(raw):
    assert outcome(lambda: parse_line(raw), InterchangeError)


def _mutated(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """``base`` with the value at ``path`` (keys into nested objects, or list indexes) replaced."""
    copy = json.loads(json.dumps(base))
    target: Any = copy
    for key in path[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(path[-1])] = value
    else:
        target[path[-1]] = value
    return copy


PATHS = [
    ["id"], ["merchant"], ["merchant", "id"], ["merchant", "country"], ["merchant", "status"],
    ["merchant", "name"], ["channel"], ["kind"], ["initiated_by"], ["subject"], ["created_at"],
    ["tags"], ["tags", "0"], ["messages"], ["messages", "0"], ["messages", "0", "author"],
    ["messages", "0", "created_at"], ["messages", "0", "body"], ["messages", "0", "public"],
    ["status_changes"], ["status_changes", "0", "status"], ["status_changes", "0", "at"],
    ["outcome"], ["spam"], ["unknown_field"],
]  # fmt: skip


@FAST
@given(path=st.sampled_from(PATHS), value=json_values)
def test_a_valid_line_with_any_one_value_changed_is_a_record_or_an_interchange_error(path, value):
    base = conversation(
        "c-1", kind="complaint", tags=["payment_delay"], outcome="upheld",
        status_changes=[{"status": "solved", "at": "2022-03-02T10:00:00Z"}],
    )  # fmt: skip
    line = json.dumps(_mutated(base, path, value), allow_nan=True)
    assert outcome(lambda: parse_line(line), InterchangeError)


segment = st.fixed_dictionaries(
    {"name": json_values, "countries": json_values}, optional={"extra": json_values}
)
topic = st.fixed_dictionaries({"name": json_values, "any": json_values})
configs = st.fixed_dictionaries(
    {},
    optional={
        "timezone": st.sampled_from(["UTC", "Europe/Istanbul", "Mars/Olympus", "", "../../etc"])
        | json_values,
        "top": json_values,
        "segment": st.lists(segment, max_size=3) | json_values,
        "topic": st.lists(topic, max_size=3) | json_values,
    },
)


@FAST
@given(data=configs | json_values)
def test_any_report_configuration_is_a_config_or_a_config_error(data):
    def parse() -> None:
        config = parse_config(data)
        build_params(config, "2022-01-01", "2023-01-01", "2023-01-02T00:00:00Z")

    assert outcome(parse, ReportConfigError)


@FAST
@given(start=st.text(max_size=40), end=st.text(max_size=40), as_of=st.none() | st.text(max_size=40))
def test_any_period_text_is_a_period_or_a_config_error(start, end, as_of):
    config = parse_config({"segment": [{"name": "All", "countries": ["*"]}]})
    assert outcome(lambda: build_params(config, start, end, as_of), ReportConfigError)
