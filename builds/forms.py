from django import forms
from django.conf import settings

from builds import constants as C


class RepositorySettingsForm(forms.Form):
    """What a repository's admins change from its page (the rest is in /admin/)."""

    active = forms.BooleanField(required=False, help_text="Inactive repositories receive no builds.")
    build_timeout = forms.IntegerField(
        min_value=1, label="Timeout (minutes)",
        help_text="A running build is stopped as timed_out after this long.",
    )
    auto_cancel = forms.BooleanField(
        required=False, label="Auto-cancel",
        help_text="A new push to a branch (or PR) cancels its older queued or running builds.",
    )
    max_concurrency = forms.IntegerField(
        min_value=0, label="Concurrent builds",
        help_text="Builds of this repository running at once; 0 means no limit of its own.",
    )

    FIELDS = ("active", "build_timeout", "auto_cancel", "max_concurrency")

    def clean_build_timeout(self):
        value = self.cleaned_data["build_timeout"]
        if value > settings.HERALD_MAX_TIMEOUT_MINUTES:
            raise forms.ValidationError(
                f"At most {settings.HERALD_MAX_TIMEOUT_MINUTES} minutes (HERALD_MAX_TIMEOUT_MINUTES)."
            )
        return value

    @classmethod
    def for_repository(cls, repo, data=None):
        return cls(data, initial={f: getattr(repo, f) for f in cls.FIELDS})

    def save(self, repo):
        for f in self.FIELDS:
            setattr(repo, f, self.cleaned_data[f])
        repo.save(update_fields=[*self.FIELDS, "updated"])


class JobFilterForm(forms.Form):
    """The repository page's job filters; unknown values are form errors, not 500s."""

    branch = forms.CharField(required=False, max_length=255)
    event = forms.ChoiceField(required=False, choices=[("", "any event"), *C.EVENT_CHOICES])
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *C.STATUS_CHOICES])

    def filters(self):
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}
