"""The one validation of a schedule, for the settings page, the admin and
the API: the model's validators (cron expression, time zone), a name free
in its repository, parameters as an object — and the schedule checked as
its build will be: the branch resolved on the clone URL and the parameters
against that commit's `.herald.yml` (builds.runnow), so a typo is answered
now rather than found at 3 a.m."""

from django import forms

from builds.models import Schedule
from builds.parameters import ParameterError, validate
from builds.runnow import Refused, resolve
from builds.schedules.cron import normalize, zones


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ("name", "cron", "timezone", "branch", "params", "enabled")
        widgets = {
            "cron": forms.TextInput(attrs={"placeholder": "0 3 * * *", "spellcheck": "false"}),
            "params": forms.Textarea(attrs={"rows": 3, "placeholder": '{"TARGET": "staging"}'}),
        }

    def __init__(self, *args, repository=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.repository = repository
        # 502 when the repository could not be read (the API answers with it).
        self.status = 400
        if "timezone" in self.fields:
            # A list to pick from; the model's validator still decides.
            self.fields["timezone"].widget = forms.Select(choices=[(z, z) for z in zones()])

    def clean_cron(self):
        return normalize(self.cleaned_data["cron"])

    def clean_params(self):
        params = self.cleaned_data.get("params")
        if params in (None, ""):
            return {}
        if not isinstance(params, dict):
            raise forms.ValidationError('must be an object of name: value, like {"TARGET": "staging"}')
        return params

    def clean(self):
        data = super().clean()
        repository = self.repository or data.get("repository")
        if repository is None or self.errors:
            return data
        name = data.get("name")
        taken = Schedule.objects.filter(repository=repository, name=name).exclude(pk=self.instance.pk)
        if name and taken.exists():
            self.add_error("name", f"{repository.full_name} already has a schedule named {name!r}")
            return data
        try:
            target = resolve(repository, data.get("branch", ""))
            validate(target.parameters, data.get("params") or None)
        except Refused as e:
            self.status = e.status if e.status == 502 else 400
            self.add_error(None, e.reason)
        except ParameterError as e:
            self.add_error("params", str(e))
        return data

    def save(self, commit=True):
        if self.repository is not None:
            self.instance.repository = self.repository
        return super().save(commit)
