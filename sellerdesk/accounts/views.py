"""Signing in and out, two-factor for staff, and password resets.

Sign-in takes the e-mail address and password, refuses for a while after repeated failures
(counted from the audit log), and asks staff who enrolled a TOTP device for a code before the
session starts.
"""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from sellerdesk.accounts.forms import AccountPasswordResetForm, SignInForm, TokenForm
from sellerdesk.accounts.models import AuditAction, User
from sellerdesk.accounts.services import audit_record, normalize_email, signin_throttled
from sellerdesk.conversations import events
from sellerdesk.core.access import home_for, safe_next, signed_in_required

PENDING_KEY = "sellerdesk_2fa_pending"


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _next_url(request: HttpRequest, user: Any) -> str:
    return safe_next(request) or str(reverse_lazy(home_for(user)))


def _confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(home_for(request.user))
    form = SignInForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        email = normalize_email(form.cleaned_data["email"])
        ip = client_ip(request)
        if signin_throttled(email=email, ip=ip):
            audit_record(action=AuditAction.SIGN_IN_THROTTLED, target=email, ip=ip)
            error = _("Too many failed attempts. Please wait 15 minutes, or reset your password.")
        else:
            user = authenticate(request, username=email, password=form.cleaned_data["password"])
            if user is None:
                audit_record(action=AuditAction.SIGN_IN_FAILED, target=email, ip=ip)
                error = _("That e-mail address and password do not match an account.")
            elif isinstance(user, User) and user.is_agent and _confirmed_device(user):
                request.session[PENDING_KEY] = {"user": user.pk, "next": _next_url(request, user)}
                return redirect("accounts:two_factor_verify")
            else:
                login(request, user)
                audit_record(action=AuditAction.SIGN_IN, actor=user, target=email, ip=ip)
                return redirect(_next_url(request, user))
    status = 200 if not error else 400
    return render(
        request,
        "accounts/sign_in.html",
        {"form": form, "error": error, "next": safe_next(request)},
        status=status,
    )


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of a staff sign-in: the code from the authenticator app."""
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return redirect("accounts:login")
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    device = _confirmed_device(user) if user else None
    if user is None or device is None:
        request.session.pop(PENDING_KEY, None)
        return redirect("accounts:login")
    form = TokenForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            request.session.pop(PENDING_KEY, None)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            otp_login(request, device)
            audit_record(
                action=AuditAction.SIGN_IN,
                actor=user,
                target=user.email,
                ip=client_ip(request),
                two_factor=True,
            )
            return redirect(pending.get("next") or home_for(user))
        audit_record(action=AuditAction.TWO_FACTOR_FAILED, target=user.email, ip=client_ip(request))
        error = _("That code is not valid. Codes change every 30 seconds.")
    return render(
        request, "accounts/two_factor_verify.html", {"form": form, "error": error},
        status=400 if error else 200,
    )  # fmt: skip


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@signed_in_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Staff enrol an authenticator app: scan the code, type the first number it shows."""
    user = request.user
    assert isinstance(user, User)
    if not user.is_agent:
        return redirect(home_for(user))
    if _confirmed_device(user) and user.is_verified():  # type: ignore[attr-defined]
        messages.info(request, _("Two-factor sign-in is already on for your account."))
        return redirect(home_for(user))
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = TokenForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            otp_login(request, device)
            audit_record(
                action=AuditAction.TWO_FACTOR_ENABLED, actor=user, target=user.email,
                ip=client_ip(request),
            )  # fmt: skip
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect(home_for(user))
        error = _("That code is not valid. Check the time on your phone and try again.")
    import base64

    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "accounts/two_factor_setup.html",
        {"form": form, "error": error, "secret": secret, "qr": _qr_svg(device.config_url)},
        status=400 if error else 200,
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(
            action=AuditAction.SIGN_OUT,
            actor=request.user,
            target=request.user.email,
            ip=client_ip(request),
        )
    # The chat's sockets opened with this session close with it (they would otherwise stay
    # open, signed in, until the page is left).
    events.session_end(session_key=request.session.session_key)
    logout(request)
    return redirect("accounts:login")


class PasswordResetView(auth_views.PasswordResetView):
    """The "Forgot your password?" page; also how an invitee whose invitation was lost or
    expired chooses a first password (``AccountPasswordResetForm``)."""

    form_class = AccountPasswordResetForm
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        audit_record(
            action=AuditAction.PASSWORD_RESET_REQUESTED,
            target=normalize_email(form.cleaned_data["email"]),
            ip=client_ip(self.request),
        )
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(
            action=AuditAction.PASSWORD_CHANGED,
            actor=form.user,
            target=form.user.email,
            ip=client_ip(self.request),
            via="reset",
        )
        return response
