"""Automation rules: conditions in SQL, actions through the workflow (automatic, naming the
rule), once per situation, no loops between rules, outcomes left to people, validation, and
the admins' pages."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sellerdesk.accounts.models import AuditEvent
from sellerdesk.accounts.services import user_create
from sellerdesk.conversations import services, workflow
from sellerdesk.conversations.models import Activity, Conversation, Message
from sellerdesk.core.errors import ValidationError
from sellerdesk.outbox import delivery
from sellerdesk.outbox.schedule import jobs
from sellerdesk.sla import automations
from sellerdesk.sla.automations import RuleInvalid, rule_save, rule_state, run_rules
from sellerdesk.sla.models import Rule, RuleRun
from tests.conftest import PASSWORD


def at(text):
    return time_machine.travel(text, tick=False)


def file(user, subject="Ödeme gecikti", when="2027-03-01 09:00:00+00:00", **fields):
    """A conversation the merchant user filed at ``when`` (the clock is fixed here)."""
    with at(when):
        return workflow.merchant_conversation_open(
            user=user, kind=fields.pop("kind", "question"), subject=subject, body="Merhaba"
        )


def fresh(conversation):
    return Conversation.objects.get(pk=conversation.pk)


def tags_of(conversation):
    return sorted(conversation.tags.values_list("name", flat=True))


@pytest.fixture
def rule(admin_user):
    def make(name, conditions, actions, position=100):
        return rule_save(
            actor=admin_user,
            name=name,
            position=position,
            active=True,
            conditions=conditions,
            actions=actions,
        )

    return make


def sweep(when, **options):
    with at(when):
        return run_rules(**options)


# --- "solved for 4 days → closed" -----------------------------------------------------------


@pytest.fixture
def solved(alice, agent):
    conversation = file(alice, kind="complaint")
    with at("2027-03-02 10:00:00+00:00"):
        workflow.conversation_change_status(conversation=conversation, status="solved", actor=agent)
    return fresh(conversation)


@pytest.fixture
def close_solved(rule):
    return rule(
        "Close solved after 4 days",
        {"status": ["solved"], "hours_since_status_change": 96},
        [{"action": "set_status", "value": "closed"}],
    )


def test_solved_for_four_days_is_closed_once_after_exactly_four_days(solved, close_solved):
    assert sweep("2027-03-06 09:59:59+00:00").fired == 0
    assert fresh(solved).status == "solved"

    assert sweep("2027-03-06 10:00:00+00:00").fired == 1
    row = fresh(solved)
    assert row.status == "closed"
    assert row.outcome is None  # a complaint closed by a rule is still undecided
    change = Activity.objects.filter(conversation=row, verb="status").last()
    assert (change.automatic, change.actor, change.detail["rule"]) == (
        True,
        None,
        "Close solved after 4 days",
    )
    assert (change.detail["before"], change.detail["after"]) == ("solved", "closed")

    assert sweep("2027-03-06 10:00:00+00:00").fired == 0
    assert sweep("2027-04-30 10:00:00+00:00").fired == 0
    run = RuleRun.objects.get()
    assert (run.rule, run.conversation_id, run.state) == (close_solved, row.pk, "1|solved")


def test_solved_again_after_the_merchant_wrote_is_a_new_situation(
    solved, close_solved, alice, agent
):
    sweep("2027-03-06 10:00:00+00:00")
    with at("2027-03-07 09:00:00+00:00"):
        workflow.reply_post(conversation=solved, author=alice, body="Hâlâ gelmedi.")
    with at("2027-03-07 12:00:00+00:00"):
        workflow.conversation_change_status(conversation=solved, status="solved", actor=agent)
    assert sweep("2027-03-11 11:59:00+00:00").fired == 0
    assert sweep("2027-03-11 12:00:00+00:00").fired == 1
    assert fresh(solved).status == "closed"
    assert RuleRun.objects.count() == 2


# --- "unassigned for 30 minutes → assign team, notify lead" ----------------------------------


@pytest.fixture
def cn_lead(cn_team):
    return user_create(email="cn-lead@desk.test", password=PASSWORD, role="lead", teams=[cn_team])


@pytest.fixture
def escalate(rule, eu_team):
    return rule(
        "Unassigned 30 minutes",
        {"status": ["new", "open"], "unassigned": True, "hours_since_created": 0.5},
        [
            {"action": "assign_team", "value": eu_team.pk},
            {"action": "notify", "value": "lead"},
        ],
    )


def test_unassigned_for_thirty_minutes_goes_to_the_team_and_its_lead_is_told(
    alice, agent, lead, cn_lead, eu_team, escalate
):
    conversation = file(alice, subject="Payout missing")
    assert sweep("2027-03-01 09:29:59+00:00").fired == 0

    with at("2027-03-01 09:30:00+00:00"):
        assert run_rules().fired == 1
        delivery.deliver_due()
    row = fresh(conversation)
    assert row.team == eu_team
    assert row.assignee is None
    team_change = Activity.objects.get(conversation=row, verb="team")
    assert team_change.automatic
    assert team_change.detail["rule"] == "Unassigned 30 minutes"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["lead@desk.test"]  # the team's lead, not every lead
    assert "Unassigned 30 minutes" in message.subject
    assert "Payout missing" in message.subject
    assert f"/desk/c/{row.pk}/" in message.body

    # Someone takes it and lets it go again: the status did not change, nor does the rule.
    with at("2027-03-01 10:00:00+00:00"):
        workflow.conversation_assign(conversation=row, assignee=agent, actor=agent)
    with at("2027-03-01 10:30:00+00:00"):
        workflow.conversation_assign(conversation=row, assignee=None, actor=agent)
    with at("2027-03-01 12:00:00+00:00"):
        assert run_rules().fired == 0
        delivery.deliver_due()
    assert len(mail.outbox) == 1


def test_without_a_team_lead_every_lead_is_told(alice, lead, cn_lead, rule):
    rule("Tell the leads", {"status": ["new"]}, [{"action": "notify", "value": "lead"}])
    file(alice)
    with at("2027-03-01 09:01:00+00:00"):
        run_rules()
        delivery.deliver_due()
    assert sorted(mail.outbox[0].to) == ["cn-lead@desk.test", "lead@desk.test"]


def test_a_sweep_run_twice_sends_the_notification_once(alice, lead, rule):
    made = rule("Tell the leads", {"status": ["new"]}, [{"action": "notify", "value": "lead"}])
    conversation = file(alice)
    with at("2027-03-01 09:01:00+00:00"):
        automations.rule_fire(made, conversation.pk, timezone.now())
        RuleRun.objects.all().delete()  # as if the run's row were lost: the outbox key holds
        automations.rule_fire(made, conversation.pk, timezone.now())
        delivery.deliver_due()
    assert len(mail.outbox) == 1


# --- Conditions -----------------------------------------------------------------------------


def test_tag_conditions_need_all_of_some_tags_and_none_of_others(alice, rule, agent):
    vip = file(alice, "vip")
    handled = file(alice, "vip, handled")
    plain = file(alice, "plain")
    with at("2027-03-01 09:00:00+00:00"):
        for conversation, names in ((vip, ["VIP"]), (handled, ["vip", "Handled"])):
            for name in names:
                workflow.conversation_add_tag(conversation=conversation, name=name, actor=agent)
    rule(
        "VIPs first",
        {"tags_all": ["Vip"], "tags_none": ["handled"]},
        [{"action": "add_tag", "value": "Handled"}, {"action": "set_priority", "value": "high"}],
    )

    assert sweep("2027-03-01 10:00:00+00:00").fired == 1
    assert tags_of(vip) == ["handled", "vip"]
    assert fresh(vip).priority == "high"
    assert (fresh(handled).priority, fresh(plain).priority) == ("normal", "normal")
    added = Activity.objects.get(conversation=vip, verb="tag_added", automatic=True)
    assert added.detail["rule"] == "VIPs first"
    assert sweep("2027-03-01 11:00:00+00:00").fired == 0


def test_a_segment_matches_its_countries(alice, eve, rule):
    acme = file(alice)  # Turkey
    globex = file(eve, "商品审核太慢")  # China
    rule("China desk", {"segment": ["CN"]}, [{"action": "add_tag", "value": "cn-queue"}])
    assert sweep("2027-03-01 10:00:00+00:00").fired == 1
    assert (tags_of(acme), tags_of(globex)) == ([], ["cn-queue"])


def test_kind_channel_and_assignment_conditions(alice, agent, rule):
    complaint = file(alice, "complaint", kind="complaint")
    question = file(alice, "question")
    with at("2027-03-01 09:05:00+00:00"):
        workflow.conversation_assign(conversation=question, assignee=agent, actor=agent)
    rule(
        "Web complaints",
        {"kind": ["complaint"], "channel": ["web"], "unassigned": True},
        [{"action": "add_tag", "value": "complaint"}],
    )
    rule("Assigned", {"unassigned": False}, [{"action": "add_tag", "value": "owned"}])
    assert sweep("2027-03-01 10:00:00+00:00").fired == 2
    assert (tags_of(complaint), tags_of(question)) == (["complaint"], ["owned"])


def test_hours_since_update_counts_from_the_last_change(alice, agent, rule):
    conversation = file(alice)
    with at("2027-03-01 10:00:00+00:00"):
        workflow.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
        workflow.reply_post(conversation=conversation, author=agent, body="Looking into it.")
    rule(
        "Quiet for two days",
        {"status": ["open"], "hours_since_update": 48},
        [{"action": "notify", "value": "assignee"}],
    )
    assert sweep("2027-03-03 09:59:00+00:00").fired == 0
    with at("2027-03-02 12:00:00+00:00"):  # an internal note is an update too
        workflow.reply_post(
            conversation=conversation, author=agent, body="Asked finance.", public=False
        )
    assert sweep("2027-03-03 10:00:00+00:00").fired == 0
    with at("2027-03-04 12:00:00+00:00"):
        assert run_rules().fired == 1
        delivery.deliver_due()
    assert [m.to for m in mail.outbox] == [["agent@desk.test"]]


def test_without_an_update_the_filing_counts(acme, rule):
    with at("2027-03-01 09:00:00+00:00"):
        imported = services.conversation_open(merchant=acme, channel="email", body="Hello")
    assert fresh(imported).updated_at is None
    rule("Old", {"hours_since_update": 24}, [{"action": "add_tag", "value": "stale"}])
    assert sweep("2027-03-02 08:59:00+00:00").fired == 0
    assert sweep("2027-03-02 09:00:00+00:00").fired == 1


def test_spam_is_never_matched(alice, agent, rule):
    conversation = file(alice)
    with at("2027-03-01 09:05:00+00:00"):
        workflow.conversation_set_spam(conversation=conversation, spam=True, actor=agent)
    rule("Everything new", {"status": ["new"]}, [{"action": "add_tag", "value": "x"}])
    assert sweep("2027-03-01 10:00:00+00:00").fired == 0


def test_an_inactive_rule_does_nothing(alice, rule, admin_user):
    made = rule("New", {"status": ["new"]}, [{"action": "add_tag", "value": "x"}])
    automations.rule_set_active(actor=admin_user, rule=made, active=False)
    file(alice)
    assert sweep("2027-03-01 10:00:00+00:00").fired == 0


def test_the_situation_in_sql_is_the_one_in_python(alice, agent, rule):
    conversation = file(alice)
    made = rule("Any", {"hours_since_created": 0}, [{"action": "add_tag", "value": "x"}])
    with at("2027-03-01 10:00:00+00:00"):
        now = timezone.now()
        assert rule_state(conversation) == "0|filed"
        assert [c.rule_situation for c in automations.rule_candidates(made, now)] == ["0|filed"]
        workflow.reply_post(
            conversation=conversation, author=agent, body="Hi", then_status="pending"
        )
        assert rule_state(conversation) == "1|pending"
        assert [c.rule_situation for c in automations.rule_candidates(made, now)] == ["1|pending"]


# --- Actions --------------------------------------------------------------------------------


def test_a_macro_is_posted_as_a_public_system_reply_with_its_tags(alice, lead, rule):
    macro = workflow.macro_save(
        actor=lead,
        name="Still looking",
        body="Hello {{ merchant_name }}, we are on it. {{ agent_name }}",
        add_tags="Waiting, finance",
    )
    conversation = file(alice)
    rule("Reassure", {"status": ["new"]}, [{"action": "send_macro", "value": macro.pk}])
    assert sweep("2027-03-01 10:00:00+00:00").fired == 1
    reply = Message.objects.filter(conversation=conversation).order_by("-id").first()
    assert (reply.author_type, reply.public) == ("system", True)
    assert reply.body == "Hello Acme Tekstil, we are on it. Support team"
    assert tags_of(conversation) == ["finance", "waiting"]
    trail = Activity.objects.filter(conversation=conversation, verb__in=["macro", "tag_added"])
    assert {(a.verb, a.automatic, a.detail["rule"]) for a in trail} == {
        ("macro", True, "Reassure"),
        ("tag_added", True, "Reassure"),
    }


def test_assign_an_agent_and_unassign(alice, agent, rule):
    first = file(alice, "one")
    rule("Give to Ada", {"status": ["new"]}, [{"action": "assign_agent", "value": agent.pk}])
    assert sweep("2027-03-01 10:00:00+00:00").fired == 1
    assert fresh(first).assignee == agent
    rule(
        "Let go",
        {"status": ["new"], "unassigned": False},
        [{"action": "unassign"}],
        position=200,
    )
    assert sweep("2027-03-01 11:00:00+00:00").fired == 1
    assert fresh(first).assignee is None
    assigned = Activity.objects.filter(conversation=first, verb="assigned").order_by("id")
    assert [(a.detail["after"], a.detail["rule"]) for a in assigned] == [
        ("agent@desk.test", "Give to Ada"),
        (None, "Let go"),
    ]


def test_a_rule_never_sets_an_outcome(alice, rule, admin_user):
    with pytest.raises(RuleInvalid) as refused:
        rule("Uphold", {"kind": ["complaint"]}, [{"action": "set_outcome", "value": "upheld"}])
    assert refused.value.errors == {
        "actions.0": "a rule never decides a complaint's outcome: a person does"
    }
    complaint = file(alice, kind="complaint")
    rule("Solve complaints", {"kind": ["complaint"]}, [{"action": "set_status", "value": "solved"}])
    assert sweep("2027-03-01 10:00:00+00:00").fired == 1
    row = fresh(complaint)
    assert (row.status, row.outcome) == ("solved", None)
    assert not Activity.objects.filter(conversation=row, verb="outcome").exists()


# --- No loops -------------------------------------------------------------------------------


def test_two_rules_feeding_each_other_stop_each_firing_once_a_situation(alice, agent, rule):
    conversation = file(alice)
    with at("2027-03-01 09:00:00+00:00"):
        workflow.conversation_add_tag(conversation=conversation, name="y", actor=agent)
    # A turns y into x, B turns x back into y; C and D bounce the status.
    rule("A", {"tags_all": ["y"], "tags_none": ["x"]}, [
        {"action": "add_tag", "value": "x"}, {"action": "remove_tag", "value": "y"},
    ], position=1)  # fmt: skip
    rule("B", {"tags_all": ["x"], "tags_none": ["y"]}, [
        {"action": "add_tag", "value": "y"}, {"action": "remove_tag", "value": "x"},
    ], position=2)  # fmt: skip
    rule("C", {"status": ["new", "open"]}, [{"action": "set_status", "value": "pending"}], 3)
    rule("D", {"status": ["pending"]}, [{"action": "set_status", "value": "open"}], 4)

    fired = [sweep(f"2027-03-01 1{n}:00:00+00:00").fired for n in range(6)]

    assert fired == [4, 0, 0, 0, 0, 0]
    assert sorted(RuleRun.objects.values_list("rule__name", "state")) == [
        ("A", "0|filed"), ("B", "0|filed"), ("C", "0|filed"), ("D", "0|filed"),
    ]  # fmt: skip
    row = fresh(conversation)
    assert (row.status, tags_of(row)) == ("open", ["y"])

    # A person's status change begins a new situation: each rule may act once more, no more.
    with at("2027-03-02 09:00:00+00:00"):
        workflow.conversation_change_status(conversation=row, status="on_hold", actor=agent)
    assert rule_state(row) == "3|on_hold"
    fired = [sweep(f"2027-03-02 1{n}:00:00+00:00").fired for n in range(4)]
    assert fired == [2, 0, 0, 0]  # A and B; C and D do not match "on hold"
    with at("2027-03-03 09:00:00+00:00"):
        workflow.conversation_change_status(conversation=row, status="open", actor=agent)
    fired = [sweep(f"2027-03-03 1{n}:00:00+00:00").fired for n in range(4)]
    assert fired == [4, 0, 0, 0]
    runs = RuleRun.objects.values_list("rule__name", "state")
    assert sorted(runs.filter(state="4|open")) == [
        ("A", "4|open"), ("B", "4|open"), ("C", "4|open"), ("D", "4|open"),
    ]  # fmt: skip
    assert RuleRun.objects.count() == 4 + 2 + 4


def test_one_sweep_runs_a_capped_number_of_rules_on_one_conversation(alice, rule):
    conversation = file(alice)
    for n in range(3):
        rule(f"Tag {n}", {"status": ["new"]}, [{"action": "add_tag", "value": f"t{n}"}], n)
    first = sweep("2027-03-01 10:00:00+00:00", per_conversation=2)
    assert (first.fired, first.deferred) == (2, 1)
    second = sweep("2027-03-01 10:01:00+00:00", per_conversation=2)
    assert (second.fired, second.deferred) == (1, 0)
    assert tags_of(conversation) == ["t0", "t1", "t2"]


def test_the_sweep_finds_candidates_in_sql(alice, rule, agent):
    """The queries of a sweep do not grow with the conversations that do not match."""
    rule("Close solved", {"status": ["solved"]}, [{"action": "set_status", "value": "closed"}])
    target = file(alice, "target")
    with at("2027-03-01 09:00:00+00:00"):
        workflow.conversation_change_status(conversation=target, status="solved", actor=agent)

    def queries(extra):
        for n in range(extra):
            file(alice, f"noise {n}")
        Conversation.objects.filter(pk=target.pk).update(status="solved")
        RuleRun.objects.all().delete()
        with at("2027-03-02 09:00:00+00:00"), CaptureQueriesContext(connection) as captured:
            assert run_rules().fired == 1
        return len(captured)

    assert queries(2) == queries(20)


# --- Validation -----------------------------------------------------------------------------


# fmt: off
INVALID = [
    ({}, [{"action": "add_tag", "value": "x"}], {"conditions": "a rule needs at least one condition"}),
    ({"colour": ["red"]}, [{"action": "add_tag", "value": "x"}], {"colour": "unknown condition 'colour'"}),
    ({"status": ["shut"]}, [{"action": "add_tag", "value": "x"}], {"status": "unknown status 'shut'"}),
    ({"status": "open"}, [{"action": "add_tag", "value": "x"}], {"status": "status: a list of names"}),
    ({"segment": ["Mars"]}, [{"action": "add_tag", "value": "x"}], {"segment": "unknown segment 'Mars'"}),
    ({"unassigned": "yes"}, [{"action": "add_tag", "value": "x"}], {"unassigned": "unassigned is true (no assignee) or false (an assignee)"}),
    ({"hours_since_created": -1}, [{"action": "add_tag", "value": "x"}], {"hours_since_created": "hours since filed: between 0 and 87600"}),
    ({"hours_since_update": "soon"}, [{"action": "add_tag", "value": "x"}], {"hours_since_update": "hours since the last update: a number of hours"}),
    ({"hours_since_update": True}, [{"action": "add_tag", "value": "x"}], {"hours_since_update": "hours since the last update: a number of hours"}),
    ({"tags_all": ["x"], "tags_none": ["X "]}, [{"action": "add_tag", "value": "y"}], {"tags_none": "the tag 'x' cannot be both required and excluded"}),
    ({"status": ["new"]}, [], {"actions": "a rule needs at least one action"}),
    ({"status": ["new"]}, [{"action": "explode"}], {"actions.0": "unknown action 'explode'"}),
    ({"status": ["new"]}, [{"action": "add_tag", "value": "x", "when": 1}], {"actions.0": "unknown key 'when'"}),
    ({"status": ["new"]}, [{"action": "add_tag", "value": " "}], {"actions.0": "write the tag's name"}),
    ({"status": ["new"]}, [{"action": "assign_team", "value": 999999}], {"actions.0": "choose a team"}),
    ({"status": ["new"]}, [{"action": "send_macro", "value": "abc"}], {"actions.0": "choose a macro"}),
    ({"status": ["new"]}, [{"action": "set_status", "value": "upheld"}], {"actions.0": "unknown status 'upheld'"}),
    ({"status": ["new"]}, [{"action": "notify", "value": "not an address"}], {"actions.0": "notify the assignee, the lead, or an e-mail address"}),
    ({"status": ["new"]}, [{"action": "notify", "value": ["lead"]}], {"actions.0": "notify the assignee, the lead, or an e-mail address"}),
    ({"status": ["new"]}, {"action": "add_tag"}, {"actions": "actions must be a list"}),
    ({"status": ["new"]}, ["add_tag"], {"actions.0": 'each action is {"action": ..., "value": ...}'}),
    (["status"], [{"action": "add_tag", "value": "x"}], {"conditions": "conditions must be a mapping of condition to value"}),
    ({"status": ["new"]}, [{"action": "set_status", "value": "open"}, {"action": "set_status", "value": "closed"}], {"actions": "set status only once a rule"}),
    ({"status": ["new"]}, [{"action": "add_tag", "value": "x"}, {"action": "remove_tag", "value": "X"}], {"actions": "the tag 'x' is added and removed"}),
    ({"status": ["new"]}, [{"action": "add_tag", "value": "x"}] * 7, {"actions": "at most 6 actions a rule"}),
]
# fmt: on


@pytest.mark.parametrize(("conditions", "actions", "errors"), INVALID)
def test_validation_names_each_problem(rule, conditions, actions, errors):
    with pytest.raises(RuleInvalid) as refused:
        rule("Broken", conditions, actions)
    assert refused.value.errors == errors
    assert not Rule.objects.exists()


def test_only_active_staff_are_assigned(rule, alice, agent):
    with pytest.raises(RuleInvalid) as refused:
        rule("To Alice", {"status": ["new"]}, [{"action": "assign_agent", "value": alice.pk}])
    assert refused.value.errors == {"actions.0": "choose an active member of staff"}


def test_names_are_unique_and_only_admins_save_rules(rule, lead):
    rule("Once", {"status": ["new"]}, [{"action": "add_tag", "value": "x"}])
    with pytest.raises(RuleInvalid) as refused:
        rule(" Once ", {"status": ["new"]}, [{"action": "add_tag", "value": "x"}])
    assert refused.value.errors == {"name": "a rule named 'Once' exists"}
    with pytest.raises(ValidationError, match="only admins"):
        rule_save(
            actor=lead,
            name="Mine",
            position=1,
            active=True,
            conditions={"status": ["new"]},
            actions=[{"action": "add_tag", "value": "x"}],
        )


def test_saving_cleans_the_values_and_is_audited(rule, admin_user, eu_team):
    made = rule(
        "Clean",
        {"tags_all": [" VIP  Seller "], "status": [], "hours_since_created": 2.0},
        [{"action": "assign_team", "value": str(eu_team.pk)}, {"action": "notify", "value": " Ops@Acme.TEST "}],
    )  # fmt: skip
    assert made.conditions == {"tags_all": ["vip seller"], "hours_since_created": 2}
    assert made.actions == [
        {"action": "assign_team", "value": eu_team.pk},
        {"action": "notify", "value": "ops@acme.test"},
    ]
    event = AuditEvent.objects.get(target="rule:Clean")
    assert (event.actor, event.detail["change"]) == (admin_user, "created")


def test_the_worker_runs_the_rules_every_minute(db):
    job = next(j for j in jobs() if j.name == "sla.automations")
    assert job.every.total_seconds() == 60
    assert job.task.call() == {"fired": 0, "deferred": 0, "failed": 0}


# --- The admins' pages ----------------------------------------------------------------------


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


def _form(**fields):
    base = {"name": "Close solved", "position": "10", "active": "1"}
    return {**base, **fields}


def test_an_admin_creates_a_rule_from_structured_fields(admin_client, eu_team, admin_user):
    page = admin_client.get(reverse("desk:automation_new"))
    assert page.status_code == 200
    assert f'value="assign_team:{eu_team.pk}"' in page.content.decode()

    response = admin_client.post(
        reverse("desk:automation_new"),
        _form(
            status=["solved"],
            kind=["complaint", "question"],
            segment=["EU"],
            tags_none="keep open, legal",
            assignment="assigned",
            hours_since_status_change="96",
            action_0="set_status:closed",
            action_1=f"assign_team:{eu_team.pk}",
            action_2="notify:email",
            text_2="Ops@Acme.test",
            action_3="add_tag",
            text_3="Auto closed",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("desk:automations")
    made = Rule.objects.get()
    assert (made.name, made.position, made.active) == ("Close solved", 10, True)
    assert made.conditions == {
        "status": ["solved"],
        "kind": ["complaint", "question"],
        "segment": ["EU"],
        "tags_none": ["keep open", "legal"],
        "unassigned": False,
        "hours_since_status_change": 96,
    }
    assert made.actions == [
        {"action": "set_status", "value": "closed"},
        {"action": "assign_team", "value": eu_team.pk},
        {"action": "notify", "value": "ops@acme.test"},
        {"action": "add_tag", "value": "Auto closed"},
    ]
    listing = admin_client.get(reverse("desk:automations")).content.decode()
    assert "Close solved" in listing
    assert "Assign to team: EU team" in listing
    assert "Hours since the last status change: 96" in listing
    assert AuditEvent.objects.filter(actor=admin_user, target="rule:Close solved").exists()


def test_an_admin_edits_a_rule_and_the_form_shows_it(admin_client, rule):
    made = rule(
        "Quiet",
        {"status": ["open"], "hours_since_update": 48},
        [{"action": "notify", "value": "ops@acme.test"}, {"action": "set_priority", "value": "high"}],
    )  # fmt: skip
    page = admin_client.get(reverse("desk:automation_edit", args=[made.pk])).content.decode()
    assert 'name="status" value="open" checked' in page
    assert 'value="48"' in page
    assert '<option value="notify:email" selected>' in page
    assert 'value="ops@acme.test"' in page
    assert '<option value="set_priority:high" selected>' in page

    response = admin_client.post(
        reverse("desk:automation_edit", args=[made.pk]),
        _form(name="Quiet for a day", status=["open", "on_hold"], hours_since_update="24",
              action_0="notify:assignee"),
    )  # fmt: skip
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.name == "Quiet for a day"
    assert made.conditions == {"status": ["open", "on_hold"], "hours_since_update": 24}
    assert made.actions == [{"action": "notify", "value": "assignee"}]
    assert made.active


def test_an_admin_switches_a_rule_off_and_on(admin_client, rule):
    made = rule("New", {"status": ["new"]}, [{"action": "add_tag", "value": "x"}])
    url = reverse("desk:automation_toggle", args=[made.pk])
    assert admin_client.post(url, {"active": "0"}).status_code == 302
    made.refresh_from_db()
    assert not made.active
    assert "Switch on" in admin_client.get(reverse("desk:automations")).content.decode()
    admin_client.post(url, {"active": "1"})
    made.refresh_from_db()
    assert made.active
    changes = AuditEvent.objects.filter(target="rule:New").values_list("detail__change", flat=True)
    assert sorted(changes) == ["activated", "created", "deactivated"]


def test_problems_are_shown_next_to_their_fields(admin_client):
    response = admin_client.post(
        reverse("desk:automation_new"),
        _form(name="", position="first", status=["open"], hours_since_update="soon",
              action_1="notify:email", text_1="nobody", text_2="orphan"),
    )  # fmt: skip
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="rule-position-error">a position from 0 up<' in page
    assert (
        'id="cond-hours_since_update-error">hours since the last update: a number of hours<' in page
    )
    assert 'id="action-1-error">notify the assignee, the lead, or an e-mail address<' in page
    assert 'id="action-2-error">choose what to do with “orphan”<' in page
    assert 'name="status" value="open" checked' in page  # what was typed is kept
    assert 'value="soon"' in page
    assert not Rule.objects.exists()

    response = admin_client.post(
        reverse("desk:automation_new"), _form(name="", status=["open"], action_0="unassign")
    )
    assert 'id="rule-name-error">a rule needs a name<' in response.content.decode()
    response = admin_client.post(reverse("desk:automation_new"), _form(action_0="unassign"))
    assert "a rule needs at least one condition" in response.content.decode()


def test_an_unknown_rule_is_not_found(admin_client):
    assert admin_client.get(reverse("desk:automation_edit", args=[999999])).status_code == 404
    url = reverse("desk:automation_toggle", args=[999999])
    assert admin_client.post(url, {"active": "1"}).status_code == 404


def test_admins_see_the_link_in_the_nav(client_for, admin_user, lead):
    link = f'href="{reverse("desk:automations")}"'
    assert link in client_for(admin_user).get(reverse("desk:inbox")).content.decode()
    assert link not in client_for(lead).get(reverse("desk:inbox")).content.decode()


def test_the_list_takes_the_same_queries_for_many_rules(admin_client, rule, eu_team, lead):
    def page():
        response = admin_client.get(reverse("desk:automations"))
        assert response.status_code == 200
        return response

    rule("R0", {"status": ["new"]}, [{"action": "assign_team", "value": eu_team.pk}])
    with CaptureQueriesContext(connection) as one:
        page()
    for n in range(1, 8):
        rule(f"R{n}", {"status": ["new"]}, [{"action": "assign_agent", "value": lead.pk}])
    with CaptureQueriesContext(connection) as many:
        text = page().content.decode()
    assert len(many) == len(one)
    assert "Assign to agent: Lena Lead" in text
