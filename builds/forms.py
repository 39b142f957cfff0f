from django import forms

from builds import constants as C
from builds import parameters as P


class JobFilterForm(forms.Form):
    """The repository page's job filters; unknown values are form errors, not 500s."""

    branch = forms.CharField(required=False, max_length=255)
    event = forms.ChoiceField(required=False, choices=[("", "any event"), *C.EVENT_CHOICES])
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *C.STATUS_CHOICES])

    def filters(self):
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


class RunNowForm(forms.Form):
    """ "Run now": a branch, maybe a commit, and a typed field per parameter
    the pipeline declares (builds.parameters). The values are checked again
    against the file of the commit that runs (builds.runnow)."""

    PREFIX = "param-"

    branch = forms.CharField(max_length=255, required=False, help_text="default: the repository's default branch")
    commit = forms.CharField(
        max_length=40, required=False, help_text="optional: a commit on that branch (default: its head)"
    )

    def __init__(self, *args, parameters=(), problem="", **kwargs):
        super().__init__(*args, **kwargs)
        self.parameters = list(parameters)
        self.problem = problem  # why the parameters could not be read
        for p in self.parameters:
            common = {"label": p.name, "help_text": p.description, "initial": p.default}
            if p.type == P.BOOLEAN:
                field = forms.BooleanField(required=False, **common)
            elif p.type == P.CHOICE:
                field = forms.ChoiceField(choices=[(c, c) for c in p.choices], **common)
            else:
                field = forms.CharField(required=False, strip=False, max_length=P.MAX_VALUE, **common)
            self.fields[self.PREFIX + p.name] = field

    def parameter_fields(self):
        return [self[self.PREFIX + p.name] for p in self.parameters]

    def clean(self):
        if self.problem:
            raise forms.ValidationError(self.problem)
        # A value for a parameter this branch's file does not declare (the
        # page showed another branch's fields): said, never dropped.
        unknown = [k[len(self.PREFIX) :] for k in self.data if k.startswith(self.PREFIX) and k not in self.fields]
        if unknown:
            names = ", ".join(p.name for p in self.parameters) or "none"
            raise forms.ValidationError(
                f"unknown parameter {unknown[0][:100]!r} (the pipeline of this branch declares: {names})"
            )
        return super().clean()

    def params(self):
        return {p.name: self.cleaned_data[self.PREFIX + p.name] for p in self.parameters}
