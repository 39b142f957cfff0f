"""Replaying a recorded delivery through the same flow, as if it arrived again.

The stored headers include the forge's signature, so authentication is
checked again against the repository's current secret. A replay carries no
delivery id (it is meant to build again) and names the delivery it replays.
"""

from django.test import RequestFactory

from webhooks.forges import get_forge
from webhooks.models import Delivery


def replay(delivery):
    if delivery.body_truncated:
        from django.http import JsonResponse

        return JsonResponse({"reason": "the stored body was truncated; it cannot be replayed"}, status=409), None
    forge = get_forge(delivery.provider)
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in delivery.headers.items()
               if k.lower() != "content-type"}
    request = RequestFactory().post(
        f"/webhooks/{delivery.provider}/", data=delivery.body.encode(),
        content_type=delivery.headers.get("Content-Type", "application/json"), **headers,
    )
    from webhooks.views import Receiver

    receiver = Receiver(forge, request, replay_of=delivery)
    response = receiver.handle()
    new = Delivery.objects.filter(replay_of=delivery).order_by("-id").first()
    return response, new
