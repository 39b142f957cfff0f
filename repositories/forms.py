from django import forms
from django.conf import settings


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
