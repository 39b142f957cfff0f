from django import template

import forges

register = template.Library()


@register.inclusion_tag("socialaccount/_forge_buttons.html", takes_context=True)
def forge_sign_in_buttons(context, next_url=""):
    """A "Sign in with …" button per forge with a configured OAuth client."""
    request = context.get("request")
    return {
        "forges": forges.configured(),
        "next": next_url or (request.GET.get("next", "") if request else ""),
        "csrf_token": context.get("csrf_token"),
    }
