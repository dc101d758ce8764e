from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Topic


class VouchForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username of a member you know")


class LetInForm(forms.Form):
    username_or_email = forms.CharField(max_length=254, label="Username or e-mail")


class ProfileForm(forms.Form):
    """The browser's profile editor; the service validates again and owns the write."""

    display_name = forms.CharField(max_length=64, required=False)
    bio = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 4}))
    links = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One http(s) link per line, at most 5.",
    )
    topics = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    avatar = forms.FileField(required=False, help_text="JPEG, PNG or WebP, at most 2 MiB.")
    remove_avatar = forms.BooleanField(required=False, label="Remove the current picture")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topics"].choices = [  # type: ignore[attr-defined]
            (topic.slug, topic.name) for topic in Topic.objects.all()
        ]

    def service_data(self) -> dict[str, Any]:
        data = {
            "display_name": self.cleaned_data["display_name"],
            "bio": self.cleaned_data["bio"],
            "links": [
                line.strip() for line in self.cleaned_data["links"].splitlines() if line.strip()
            ],
            "topics": self.cleaned_data["topics"],
        }
        if self.cleaned_data.get("avatar"):
            data["avatar"] = self.cleaned_data["avatar"]
        elif self.cleaned_data.get("remove_avatar"):
            data["avatar"] = None
        return data


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput, label="Your password"
    )
    confirm = forms.CharField(required=False, max_length=150, label="Type your username to confirm")
