"""The one webhook flow every forge goes through:
size check → event → decode → repository → authenticate → parse →
record the delivery and create the job in one transaction → answer.
Everything is recorded, nothing answers 500 for bad input."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from builds.scheduling import create_job
from repositories.models import Repository
from webhooks import models as M
from webhooks.forges import get_forge
from webhooks.forges.base import Ignored, Ping, Rejected, skip_requested

log = logging.getLogger(__name__)


@csrf_exempt
def receive(request, provider):
    forge = get_forge(provider)
    if forge is None:
        return JsonResponse({"reason": f"unknown forge {provider!r}"}, status=404)
    if request.method != "POST":
        return JsonResponse({"reason": "webhooks are POSTed"}, status=405, headers={"Allow": "POST"})
    return Receiver(forge, request).handle()


class Receiver:
    def __init__(self, forge, request, replay_of=None):
        self.forge = forge
        self.request = request
        self.replay_of = replay_of
        self.body = b""
        self.event = ""
        self.delivery_id = ""
        self.repository = None
        self.repository_name = ""

    def handle(self):
        try:
            return self._handle()
        except Rejected as r:
            status = r.status
            if self.forge.soft_rejections and status not in (401, 403):
                status = 200
            return self.answer(M.REJECTED, r.reason, status)
        except Ping as p:
            return self.answer(M.IGNORED, p.reason, 200)
        except Ignored as i:
            return self.answer(M.IGNORED, i.reason, 200)
        except Exception:
            log.exception("webhook %s %s failed", self.forge.provider, self.delivery_id)
            return self.answer(M.ERROR, "internal error while handling the delivery; see the server log", 500)

    def _handle(self):
        self.event = self.forge.event_name(self.request)[:100]
        self.delivery_id = "" if self.replay_of else self.forge.delivery_id(self.request)
        self.body = self.read_body()
        if not self.event:
            raise Rejected(400, f"no {self.forge.event_header} header")
        payload = self.forge.decode(self.request, self.body)
        self.repository_name = str(self.forge.repository_name(payload))[:255]
        self.repository = Repository.objects.by_name(self.forge.provider, self.repository_name).first()
        if self.repository is None:
            raise Rejected(404, f"repository {self.repository_name} is not registered in Herald")
        # Nothing in the payload is trusted before this line.
        self.forge.authenticate(self.request, self.body, self.repository.webhook_secret)
        build = self.forge.parse(self.event, payload)
        if not self.repository.active:
            raise Ignored(f"{self.repository.full_name} is inactive in Herald")
        if skip_requested(build.message) and build.event != "pull_request":
            raise Ignored("the commit message asks to skip CI")
        return self.accept(build)

    def read_body(self):
        limit = settings.HERALD_WEBHOOK_MAX_BYTES
        try:
            length = int(self.request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise Rejected(400, "invalid Content-Length") from None
        if length > limit:
            # Answered without reading the body.
            raise Rejected(413, f"body of {length} bytes is over the {limit}-byte limit")
        body = self.request.read(limit + 1)
        if len(body) > limit:
            raise Rejected(413, f"body is over the {limit}-byte limit")
        return body

    def accept(self, build):
        try:
            with transaction.atomic():
                job, created = create_job(
                    self.repository, dedupe_seconds=0 if self.replay_of else None, **build.job_fields()
                )
                outcome = M.ACCEPTED if created else M.DUPLICATE
                reason = "" if created else f"same push as job #{job.number}, received moments ago"
                delivery = self.record(outcome, reason, 202 if created else 200)
                M.Delivery.jobs.through.objects.create(delivery=delivery, job=job)
        except IntegrityError:
            # A redelivery of an id already accepted (the partial unique
            # constraint): rolled back whole, answered with the first jobs.
            earlier = M.Delivery.objects.filter(
                provider=self.forge.provider, delivery_id=self.delivery_id, outcome=M.ACCEPTED
            ).first()
            jobs = list(earlier.jobs.values_list("pk", flat=True)) if earlier else []
            return self.answer(M.DUPLICATE, f"delivery {self.delivery_id} was already received", 200, jobs=jobs)
        body = {"delivery": delivery.pk, "outcome": outcome, "jobs": [job.pk]}
        if reason:
            body["reason"] = reason
        return JsonResponse(body, status=202 if created else 200)

    def record(self, outcome, reason, status_code):
        keep = M.BODY_KEEP_BYTES if outcome in (M.ACCEPTED, M.DUPLICATE, M.IGNORED) else M.REJECTED_BODY_KEEP_BYTES
        text = self.body[:keep].decode("utf-8", errors="replace")
        headers = {h: self.request.headers[h] for h in self.forge.recorded_headers if h in self.request.headers}
        return M.Delivery.objects.create(
            provider=self.forge.provider,
            delivery_id=self.delivery_id,
            event=self.event,
            outcome=outcome,
            reason=reason[:500],
            status_code=status_code,
            repository=self.repository,
            repository_name=self.repository_name,
            headers=headers,
            body=text,
            body_size=len(self.body),
            body_truncated=len(self.body) > keep,
            replay_of=self.replay_of,
        )

    def answer(self, outcome, reason, status, jobs=None):
        try:
            delivery = self.record(outcome, reason, status)
            if jobs:
                delivery.jobs.add(*jobs)
            delivery_pk = delivery.pk
        except Exception:
            log.exception("could not record a %s delivery", self.forge.provider)
            delivery_pk = None
        body = {"delivery": delivery_pk, "outcome": outcome, "reason": reason}
        if jobs is not None:
            body["jobs"] = jobs
        return JsonResponse(body, status=status)
