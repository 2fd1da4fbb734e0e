from __future__ import annotations

from collections.abc import Iterator

from django import forms
from django.contrib.auth.forms import PasswordResetForm
from django.utils.translation import gettext_lazy as _

from sellerdesk.accounts.models import User
from sellerdesk.accounts.services import normalize_email


class SignInForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)


class TokenForm(forms.Form):
    token = forms.RegexField(
        label=_("Six-digit code"),
        regex=r"^\d{6}$",
        error_messages={"invalid": _("Type the six digits your authenticator app shows.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class AccountPasswordResetForm(PasswordResetForm):
    """Django's reset form, which also reaches people who never chose a password.

    A person an admin adds has an unusable password until they follow the invitation's link;
    Django's form skips them, so an invitee whose invitation was lost or expired could never
    get in. Here every active account with the address gets the link, whether or not it has a
    password yet; a deactivated one never does, and an unknown address gets nothing (the page
    says the same either way).
    """

    def get_users(self, email: str) -> Iterator[User]:
        # Addresses are stored normalized (accounts.services), so the match is exact.
        yield from User.objects.filter(email=normalize_email(email), is_active=True)
