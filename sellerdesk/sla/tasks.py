"""The service-level worker tasks."""

from __future__ import annotations

from django_tasks import task

from sellerdesk.sla import automations, timers


@task()
def sweep_timers() -> dict[str, int]:
    run = timers.sweep()
    return {"reminded": run.reminded, "closed": run.closed, "escalated": run.escalated}


@task()
def run_automations() -> dict[str, int]:
    run = automations.run_rules()
    return {"fired": run.fired, "deferred": run.deferred, "failed": run.failed}
