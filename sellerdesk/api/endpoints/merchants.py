"""Merchants, upserted by the marketplace's id, and their users."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from sellerdesk.api import present, selectors, services
from sellerdesk.api.auth import READ, WRITE
from sellerdesk.api.endpoints.common import IdempotencyKey, MerchantId, answers, key_of
from sellerdesk.api.idempotency import idempotent
from sellerdesk.api.schemas import MerchantIn, MerchantOut, UserIn, UserList, UserOut

router = Router()


@router.put(
    "/{merchant_id}",
    auth=WRITE,
    response=answers({200: MerchantOut, 201: MerchantOut}, body=True),
    summary="Create or update a merchant",
    description="201 when created, 200 when updated. Not with a merchant's key.",
)
def merchant_put(
    request: HttpRequest,
    merchant_id: MerchantId,
    payload: MerchantIn,
    idempotency_key: IdempotencyKey = None,
) -> HttpResponse:
    key = key_of(request)

    def create() -> HttpResponse:
        merchant, created = services.merchant_put(
            key=key,
            merchant_id=merchant_id,
            country=payload.country,
            name=payload.name,
            status=payload.status,
            language=payload.language,
        )
        return present.respond(
            MerchantOut, present.merchant(merchant), status=201 if created else 200
        )

    return idempotent(request, key, idempotency_key, create)


@router.get("/{merchant_id}", auth=READ, response=answers({200: MerchantOut}), summary="A merchant")
def merchant_get(request: HttpRequest, merchant_id: MerchantId) -> HttpResponse:
    merchant = selectors.merchant_get(key=key_of(request), merchant_id=merchant_id)
    return present.respond(MerchantOut, present.merchant(merchant))


@router.post(
    "/{merchant_id}/users",
    auth=WRITE,
    response=answers({201: UserOut}, body=True),
    summary="Add a user to a merchant",
    description="The user has no password: they get the invitation e-mail to choose one.",
)
def merchant_user_add(
    request: HttpRequest,
    merchant_id: MerchantId,
    payload: UserIn,
    idempotency_key: IdempotencyKey = None,
) -> HttpResponse:
    key = key_of(request)
    merchant = selectors.merchant_get(key=key, merchant_id=merchant_id)

    def create() -> HttpResponse:
        user = services.merchant_user_add(
            merchant=merchant, email=payload.email, full_name=payload.full_name
        )
        return present.respond(UserOut, present.user(user), status=201)

    return idempotent(request, key, idempotency_key, create)


@router.get(
    "/{merchant_id}/users",
    auth=READ,
    response=answers({200: UserList}),
    summary="A merchant's users",
)
def merchant_users(request: HttpRequest, merchant_id: MerchantId) -> HttpResponse:
    merchant = selectors.merchant_get(key=key_of(request), merchant_id=merchant_id)
    users = selectors.merchant_users(merchant=merchant)
    return present.respond(UserList, {"items": [present.user(u) for u in users]})
