"""The worker's schedule: each periodic run is taken once, however many workers tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from sellerdesk.outbox import schedule
from sellerdesk.outbox.models import PeriodicJob

pytestmark = pytest.mark.django_db


def queued(name_part: str) -> int:
    return sum(1 for r in DBTaskResult.objects.all() if name_part in r.task_path)


def test_a_run_is_taken_once_by_two_workers_ticking_together():
    first = schedule.tick()
    second = schedule.tick()  # another worker, the same second
    assert "sla.sweep" in first
    assert "sla.sweep" not in second
    assert queued("sweep_timers") == 1


def test_the_next_run_comes_after_its_interval():
    schedule.tick()
    with time_machine.travel(timezone.now() + timedelta(seconds=29)):
        assert "sla.sweep" not in schedule.tick()
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert "sla.sweep" in schedule.tick()
    assert queued("sweep_timers") == 2


def test_delivery_is_enqueued_only_when_something_is_due():
    assert "outbox.deliver" not in schedule.tick()
    assert PeriodicJob.objects.filter(name="outbox.deliver").exists()


def test_an_idle_tick_writes_nothing(django_assert_max_num_queries):
    schedule.tick()
    with django_assert_max_num_queries(1):  # one read of the schedule, no UPDATE
        schedule.tick()
