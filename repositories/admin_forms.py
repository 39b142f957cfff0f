"""The admin's forms for repositories and their secrets.

Adding a repository asks what `manage.py addrepo` asks (the forge, owner/name,
where to clone from, the default branch, private or not, the timeout) and
checks it the same way: the model's own checks (Repository.clean_fields: the
name's shape, a clone URL git may be handed, the timeout's bounds), with the
clone URL, when left empty, taken from the forge as addrepo takes it
(Repository.suggested_clone_url). Everything else has its default and is
changed afterwards on the change page.
"""

from django import forms

import forges
from repositories.models import Repository, Secret


class NewRepositoryForm(forms.ModelForm):
    class Meta:
        model = Repository
        fields = ("provider", "full_name", "clone_url", "default_branch", "private", "build_timeout")
        help_texts = {
            "full_name": '"owner/name" exactly as the forge shows it, e.g. acme/widgets.',
            "clone_url": "Leave empty for the forge's own (https://github.com/owner/name.git on GitHub). "
            "Any https://, ssh://, git:// or git@host:owner/name.git URL the workers can reach.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clone_url"].required = False

    def clean(self):
        data = super().clean()
        provider, full_name = data.get("provider"), data.get("full_name")
        if not provider or not full_name:
            return data
        if Repository.objects.by_name(provider, full_name).exists():
            self.add_error(
                "full_name", f"Herald already has {forges.get(provider).name}'s {full_name}: change that one instead."
            )
        if not (data.get("clone_url") or "").strip():
            data["clone_url"] = Repository(provider=provider, full_name=full_name).suggested_clone_url()
            if not data["clone_url"]:
                self.add_error("clone_url", self._no_clone_url(forges.get(provider)))
        return data

    @staticmethod
    def _no_clone_url(forge):
        if not forge.links:
            return "Give the clone URL: a plain git repository has no forge to take it from."
        return (
            f"Give the clone URL: Herald cannot tell where {forge.name} is (HERALD_{forge.id.upper()}_URL is not set)."
        )


class SecretForm(forms.ModelForm):
    """A repository secret, its value write-only: never put in the page."""

    new_value = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Value",
        help_text="Write-only: leave empty to keep the stored value.",
    )

    class Meta:
        model = Secret
        fields = ("repository", "name", "allow_forks")

    def clean(self):
        data = super().clean()
        if not self.instance.pk and not data.get("new_value"):
            self.add_error("new_value", "A new secret needs a value.")
        return data

    def save(self, commit=True):
        if self.cleaned_data.get("new_value"):
            self.instance.value = self.cleaned_data["new_value"]
        return super().save(commit)
