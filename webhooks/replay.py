"""Replaying a recorded delivery through the same flow, as if it arrived again.

The stored headers include the forge's signature, so authentication is
checked again against the repository's current secret. A replay carries no
delivery id (it is meant to build again) and names the delivery it replays.
The Receiver takes headers and a body, so the stored ones are handed to it
as they are: no request is made up.
"""

from django.http import JsonResponse

import forges
from webhooks.models import Delivery
from webhooks.views import Receiver


def replay(delivery):
    if delivery.body_truncated:
        return JsonResponse({"reason": "the stored body was truncated; it cannot be replayed"}, status=409), None
    # Stored before Content-Type was recorded: JSON, as every forge sends by default.
    headers = {"Content-Type": "application/json", **delivery.headers}
    receiver = Receiver(forges.get(delivery.provider).webhook, headers, delivery.body.encode(), replay_of=delivery)
    response = receiver.handle()
    new = Delivery.objects.filter(replay_of=delivery).order_by("-id").first()
    return response, new
