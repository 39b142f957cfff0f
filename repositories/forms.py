from django import forms
from django.conf import settings

from repositories.models import Repository


class RepositorySettingsForm(forms.ModelForm):
    """What a repository's admins change from its page (the rest is in /admin/)."""

    # Declared for its own minimum, label and help: the column allows 0.
    build_timeout = forms.IntegerField(
        min_value=1,
        label="Timeout (minutes)",
        help_text="A running build is stopped as timed_out after this long.",
    )

    class Meta:
        model = Repository
        fields = ("active", "build_timeout", "auto_cancel", "max_concurrency")
        labels = {"auto_cancel": "Auto-cancel", "max_concurrency": "Concurrent builds"}

    def clean_build_timeout(self):
        value = self.cleaned_data["build_timeout"]
        if value > settings.HERALD_MAX_TIMEOUT_MINUTES:
            raise forms.ValidationError(
                f"At most {settings.HERALD_MAX_TIMEOUT_MINUTES} minutes (HERALD_MAX_TIMEOUT_MINUTES)."
            )
        return value

    def save(self, commit=True):
        # Only these columns: a full save would write back stale values of
        # the others (the job counter, the hook, the matrix hint) that
        # workers and webhooks change meanwhile.
        if commit:
            self.instance.save(update_fields=[*self._meta.fields, "updated"])
        return self.instance
