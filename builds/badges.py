"""Status badges: `/badges/<owner>/<name>.svg?branch=main`.

The badge shows the latest finished build of the branch (the repository's
default branch unless given) that says something about the code: a build
that was cancelled or skipped does not change it, and neither does one still
running. Pull requests never do, so neither does one `blocked` waiting for
approval.
"""

import hashlib

from django.http import Http404, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.html import escape
from django.views.decorators.http import require_GET

from builds import constants as C
from builds.models import Job
from repositories.access import repository_for

SHOWN = (C.SUCCESS, C.FAILED, C.ERRORED, C.TIMED_OUT)
COLOURS = {
    C.SUCCESS: "#2da44e",
    C.FAILED: "#cf222e",
    C.ERRORED: "#d4a72c",
    C.TIMED_OUT: "#e16f24",
    "unknown": "#8c959f",
}
LABEL = "build"
MAX_AGE = 30  # seconds: a badge on a README should follow pushes closely

# Approximate advance widths (px) of Verdana 11px, the badge font.
_NARROW = set("fijlrtI!|.,:;'()[] ")
_WIDE = set("mwMW@%")


def text_width(text):
    width = 0.0
    for c in text:
        if c in _NARROW:
            width += 3.9
        elif c in _WIDE:
            width += 10.0
        elif c.isupper() or c.isdigit():
            width += 7.5
        else:
            width += 6.8
    return round(width)


def render_svg(label, message, colour):
    lw, mw = text_width(label) + 12, text_width(message) + 12
    total = lw + mw
    label, message = escape(label), escape(message)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {message}">
<title>{label}: {message}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)">
<rect class="label" width="{lw}" height="20" fill="#555"/>
<rect class="status" x="{lw}" width="{mw}" height="20" fill="{colour}"/>
<rect width="{total}" height="20" fill="url(#s)"/>
</g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="{lw / 2}" y="15" fill="#010101" fill-opacity=".3">{label}</text><text x="{lw / 2}" y="14">{label}</text>
<text x="{lw + mw / 2}" y="15" fill="#010101" fill-opacity=".3">{message}</text><text x="{lw + mw / 2}" y="14">{message}</text>
</g>
</svg>
"""


def badge_status(repository, branch):
    return (
        Job.objects.filter(repository=repository, branch=branch, status__in=SHOWN)
        .exclude(event=C.PULL_REQUEST)
        .order_by("-id")
        .values_list("status", flat=True)
        .first()
    ) or "unknown"


@require_GET
def badge(request, full_name):
    try:
        repo = repository_for(request, full_name, provider=request.GET.get("provider"))
    except Http404:
        # Still an image, so a README shows what is wrong instead of a broken one.
        response = _svg(request, render_svg(LABEL, "not found", COLOURS["unknown"]), status=404)
        patch_cache_control(response, no_cache=True)
        return response
    branch = request.GET.get("branch") or repo.default_branch
    status = badge_status(repo, branch)
    response = _svg(request, render_svg(LABEL, status, COLOURS[status]))
    if repo.private:
        patch_cache_control(response, private=True, max_age=MAX_AGE)
    else:
        patch_cache_control(response, public=True, max_age=MAX_AGE)
    return response


def _svg(request, body, status=200):
    etag = f'"{hashlib.sha256(body.encode()).hexdigest()[:20]}"'
    if status == 200 and request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="image/svg+xml; charset=utf-8", status=status)
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    # An SVG opened directly is a document: never let it run anything.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
