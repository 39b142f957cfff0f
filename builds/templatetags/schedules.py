"""`{% repository_schedules repo permission as schedules %}`: the rows of
the repository page's schedules section (templates/builds/_schedules.html),
so the page's view needs no change for them."""

from django import template

from builds.models import Schedule
from repositories.models import Membership, permits

register = template.Library()


@register.simple_tag
def repository_schedules(repository, permission):
    return {
        "rows": list(Schedule.objects.filter(repository=repository).select_related("last_job").order_by("name")),
        "can_change": permits(permission, Membership.PUSH),
    }
