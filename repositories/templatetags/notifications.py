from django import template

from repositories.models import Membership, permits
from repositories.notifications.forms import NotificationForm

register = template.Library()


@register.simple_tag
def repository_notifications(repo, permission):
    """The repository page's notifications section: shown to people with
    push rights only (the targets are addresses and URLs)."""
    if not permits(permission, Membership.PUSH):
        return None
    return {"rows": list(repo.notifications.all()), "form": NotificationForm(repository=repo)}
