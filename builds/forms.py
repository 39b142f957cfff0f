from django import forms

from builds import constants as C


class JobFilterForm(forms.Form):
    """The repository page's job filters; unknown values are form errors, not 500s."""

    branch = forms.CharField(required=False, max_length=255)
    event = forms.ChoiceField(required=False, choices=[("", "any event"), *C.EVENT_CHOICES])
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *C.STATUS_CHOICES])

    def filters(self):
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}
