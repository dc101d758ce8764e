from __future__ import annotations

from django import forms


class VouchForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username of a member you know")


class LetInForm(forms.Form):
    username_or_email = forms.CharField(max_length=254, label="Username or e-mail")
