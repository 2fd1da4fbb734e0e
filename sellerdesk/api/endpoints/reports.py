"""The complaint-handling report (docs/report.md) as JSON."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from sellerdesk.api import present
from sellerdesk.api.auth import REPORTS
from sellerdesk.api.endpoints.common import answers
from sellerdesk.api.schemas import ReportIn, ReportOut
from sellerdesk.reports.config import build_params, parse_config
from sellerdesk.reports.engine import compute_report

router = Router()


@router.post(
    "",
    auth=REPORTS,
    response=answers({200: ReportOut}, body=True),
    by_alias=True,  # the document names the field "schema", as the report does
    summary="Compute the report",
    description="The configuration of docs/report.md as JSON, the period and as_of, and "
    "optionally business_hours; a configuration that breaks a rule (or an unknown calendar) "
    "is a 422 naming the problem. Needs a reports key.",
)
def report_compute(request: HttpRequest, payload: ReportIn) -> HttpResponse:
    params = build_params(
        parse_config(payload.config),
        payload.from_,
        payload.to,
        payload.as_of,
        business_hours=payload.business_hours,
    )
    return present.respond(ReportOut, compute_report(params).as_dict())
