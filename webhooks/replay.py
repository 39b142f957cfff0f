"""Replaying a recorded delivery through the same flow, as if it arrived again.

The stored headers include the forge's signature, so authentication is
checked again against the repository's current secret. A replay carries no
delivery id (it is meant to build again) and names the delivery it replays.
The Receiver takes headers and a body, so the stored ones are handed to it
as they are: no request is made up. A body stored with the secret masked
(masking.py) is handed over with the current secret put back, in whichever
form makes its signature match (or as stored, to be refused).
"""

from django.http import JsonResponse
from django.utils.datastructures import CaseInsensitiveMapping

import forges
from forges.webhook import Rejected
from webhooks.masking import unmasked
from webhooks.models import Delivery
from webhooks.views import Receiver


def replay(delivery):
    if delivery.body_truncated:
        return JsonResponse({"reason": "the stored body was truncated; it cannot be replayed"}, status=409), None
    # Stored before Content-Type was recorded: JSON, as every forge sends by default.
    headers = {"Content-Type": "application/json", **delivery.headers}
    forge = forges.get(delivery.provider).webhook
    receiver = Receiver(forge, headers, original_body(forge, headers, delivery), replay_of=delivery)
    response = receiver.handle()
    new = Delivery.objects.filter(replay_of=delivery).order_by("-id").first()
    return response, new


def original_body(forge, headers, delivery):
    """The body as the forge signed it: the secret goes back only where its
    signature proves it was. Otherwise (no signature to prove it, as with
    GitLab, or none matching) the stored body, masks and all: a replay must
    never carry the secret into a job's fields."""
    stored = delivery.body.encode()
    if not forge.signs_body:
        return stored
    secret = delivery.repository.webhook_secret if delivery.repository else ""
    for body in unmasked(delivery.body, secret):
        if body == delivery.body:
            break
        try:
            forge.authenticate(CaseInsensitiveMapping(headers), body.encode(), delivery.repository)
            return body.encode()
        except Rejected:
            continue
    return stored
