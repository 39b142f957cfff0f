"""The one webhook flow every forge goes through:
size check → event → decode → repository → authenticate → parse →
record the delivery and create the job in one transaction → answer.
Everything is recorded, nothing answers 500 for bad input.

The Receiver takes a forge, the request's headers and its body; the view
and a replay (replay.py) both hand it theirs.

While the database is unavailable or locked, a delivery that passed the
checks needing no database (and, when this process knows the repository,
its authentication) is journaled instead (journal.py) and answered 202
"journaled"; the journal's drainer replays it through this same flow once
the database is back, recording it with its original receive time."""

import logging
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.utils.datastructures import CaseInsensitiveMapping
from django.views.decorators.csrf import csrf_exempt

import forges
from builds.lifecycle import create_job
from ciproject.db import UNAVAILABLE, short_lock_wait, writer_turn
from forges.webhook import Ignored, Ping, Rejected, skip_requested
from repositories.models import Repository
from webhooks import journal
from webhooks import models as M
from webhooks.checks import build_problem, one_line, repository_name_problem, storable
from webhooks.masking import mask

log = logging.getLogger(__name__)

# The one answer to a request naming a repository it has not proved it may
# address: from outside, an unknown repository and a private one with a
# missing or wrong signature look the same. The delivery record keeps the
# real reason for the repository's admins.
NOT_FOUND = 404
NOT_FOUND_REASON = (
    "no such repository in Herald, or it is private and the request is not signed with its"
    " webhook secret (its admins see which on its deliveries page)"
)
# Checked against when the repository is unknown, so that answer costs the
# same signature check as a private repository's.
NOBODY = Repository(webhook_secret=secrets.token_hex(32))

JOURNALED = {"outcome": "journaled", "reason": "recorded; will be processed when the database is back"}

# The repositories this process last read for webhooks, by forge and
# lower-cased name: while the database is away, a delivery for one of them
# is still authenticated before it is journaled, and one that fails is
# answered at once. Others are journaled unverified; the replay verifies
# them (and records the refusal). An entry is as old as this process's last
# delivery for the repository: a secret changed since (through another
# process) refuses the forge's new signature until the database is back.
KNOWN = {}


class Hidden(Rejected):
    """Rejected, answered with NOT_FOUND whatever the precise reason."""

    def __init__(self, reason):
        super().__init__(NOT_FOUND, reason)


@csrf_exempt
def receive(request, provider):
    forge = forges.get(provider)
    if forge is None or forge.webhook is None:
        return JsonResponse({"reason": f"unknown forge {provider!r}"}, status=404)
    if request.method != "POST":
        return JsonResponse({"reason": "webhooks are POSTed"}, status=405, headers={"Allow": "POST"})
    # The request itself is the body: read_body reads no more than the limit.
    return Receiver(forge.webhook, request.headers, request).handle()


class Receiver:
    """One delivery through the flow. `forge` is the forge's webhook adapter;
    `headers` any mapping (read case-insensitively); `body` the raw bytes, or
    a stream (the incoming request) read up to HERALD_WEBHOOK_MAX_BYTES."""

    def __init__(self, forge, headers, body, replay_of=None, received_at=None, journal_entry=""):
        self.forge = forge
        self.headers = CaseInsensitiveMapping(headers)
        self.stream = body
        self.replay_of = replay_of
        self.received_at = received_at or timezone.now()
        # Set when the journal's drainer replays a delivery received while
        # the database was away.
        self.journal_entry = journal_entry
        # As it arrives from the forge (not replayed): may be journaled.
        self.live = replay_of is None and not journal_entry
        self.body = b""
        self.event = ""
        self.delivery_id = ""
        self.repository = None
        self.repository_name = ""
        self.authenticated = False

    def handle(self):
        if not self.live:
            return self._handle_answered()
        # A forge gives up after 10 s (GitHub resends nothing): a lock held
        # elsewhere is waited for briefly, then the delivery is journaled.
        with short_lock_wait(settings.HERALD_WEBHOOK_DB_WAIT_SECONDS):
            return self._handle_answered()

    def _handle_answered(self):
        try:
            return self._handle()
        except UNAVAILABLE:
            if self.journal_entry:
                raise  # the drainer tries again later
            log.exception("webhook %s %s failed", self.forge.provider, self.delivery_id)
            return self.answer(M.ERROR, "the database is unavailable; try again later", 500)
        except Hidden as h:
            return self.answer(M.REJECTED, h.reason, NOT_FOUND, public_reason=NOT_FOUND_REASON)
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
        self.event = storable(self.forge.event_name(self.headers))[:100]
        self.delivery_id = "" if self.replay_of else storable(self.forge.delivery_id(self.headers))[:100]
        self.body = self.read_body()
        if not self.event:
            raise Rejected(400, f"no {self.forge.event_header} header")
        try:
            payload = self.forge.decode(self.headers, self.body)
        except RecursionError:
            raise Rejected(400, "body is nested too deeply") from None
        name = self.untrusted(self.forge.repository_name, payload)
        if not isinstance(name, str):
            raise Rejected(400, "payload repository name is not a string")
        self.repository_name = name[:255]
        problem = repository_name_problem(name)
        if problem:
            raise Rejected(400, problem)
        if not self.live:
            return self._handle_in_database(payload)
        if journal.must_queue():
            return self.journal_instead()
        try:
            return self._handle_in_database(payload)
        except UNAVAILABLE as e:
            return self.journal_instead(e)

    def _handle_in_database(self, payload):
        self.repository = self.lookup()
        if self.repository is None:
            try:
                self.forge.authenticate(self.headers, self.body, NOBODY)
            except Rejected:
                pass
            raise Hidden(f"repository {self.repository_name} is not registered in Herald")
        self.authenticate()
        # Nothing in the payload is trusted before this line.
        builds = self.untrusted(self.forge.parse, self.event, payload)
        if not self.repository.active:
            raise Ignored(f"{self.repository.full_name} is inactive in Herald")
        if not isinstance(builds, list):
            builds = [builds]
        for build in builds:
            problem = build_problem(build)
            if problem:
                raise Rejected(400, problem)
        builds = [b for b in builds if b.event == "pull_request" or not skip_requested(b.message)]
        if not builds:
            raise Ignored("the commit message asks to skip CI")
        return self.accept(builds)

    def lookup(self):
        key = (self.forge.provider, self.repository_name.lower())
        repository = Repository.objects.for_webhook(*key)
        if repository is None:
            KNOWN.pop(key, None)
        else:
            KNOWN[key] = repository
        return repository

    def journal_instead(self, error=None):
        """Journal the delivery for the drainer: the database failed
        (`error`), or deliveries received earlier still wait for it."""
        if error is not None:
            journal.database_failed()
            log.warning(
                "webhook %s %s journaled: database unavailable (%s)",
                self.forge.provider,
                self.delivery_id,
                one_line(str(error))[:200],
            )
        if not self.authenticated:
            self.repository = self.repository or KNOWN.get((self.forge.provider, self.repository_name.lower()))
            if self.repository is not None:
                self.authenticate()  # a failure is answered as usual
        headers = {name: value for name, value in self.headers.items() if name.lower() != "cookie"}
        try:
            journal.write(self.forge.provider, headers, self.body, self.received_at)
        except journal.JournalFull as full:
            log.error("webhook %s %s refused: %s", self.forge.provider, self.delivery_id, full)
            return JsonResponse(
                {"outcome": "refused", "reason": one_line(str(full))}, status=503, headers={"Retry-After": "60"}
            )
        drainer.start()
        return JsonResponse(JOURNALED, status=202)

    @staticmethod
    def untrusted(parse, *args):
        # Payload fields of an unexpected type (a number where a name
        # belongs, a list for an object) are the sender's mistake: answer
        # 400, not 500.
        try:
            return parse(*args)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as e:
            raise Rejected(400, f"payload has an unexpected shape ({type(e).__name__}: {e})"[:300]) from None

    def authenticate(self):
        if self.replay_of is not None and not self.replay_of.authenticated:
            raise Rejected(403, "the replayed delivery was never authenticated")
        if self.replay_of is None or self.forge.signs_body:
            try:
                self.forge.authenticate(self.headers, self.body, self.repository)
            except Rejected as r:
                # An admin's replay is told the precise reason.
                if self.repository.private and self.replay_of is None:
                    raise Hidden(r.reason) from None
                raise
        # A replay for a token-authenticated forge (GitLab) relies on the
        # original having passed: the token itself is never stored.
        self.authenticated = True

    def read_body(self):
        limit = settings.HERALD_WEBHOOK_MAX_BYTES
        if isinstance(self.stream, bytes):
            length = len(self.stream)
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise Rejected(400, "invalid Content-Length") from None
        if length > limit:
            # Answered without reading the body.
            raise Rejected(413, f"body of {length} bytes is over the {limit}-byte limit")
        body = self.stream if isinstance(self.stream, bytes) else self.stream.read(limit + 1)
        if len(body) > limit:
            raise Rejected(413, f"body is over the {limit}-byte limit")
        return body

    def accept(self, builds):
        if not isinstance(builds, list):
            builds = [builds]
        wait = settings.HERALD_WEBHOOK_DB_WAIT_SECONDS if self.live else None
        try:
            with writer_turn(wait), transaction.atomic():
                jobs, twins = [], []
                for build in builds:
                    dedupe = 0 if self.replay_of or not build.dedupe else None
                    # A journaled delivery is dated when it arrived (create_job).
                    received = self.received_at if self.journal_entry else None
                    job, created = create_job(
                        self.repository, dedupe_seconds=dedupe, received_at=received, **build.job_fields()
                    )
                    (jobs if created else twins).extend([job, *getattr(job, "siblings", ())])
                outcome = M.ACCEPTED if jobs else M.DUPLICATE
                reason = "" if jobs else self.duplicate_reason(twins[0])
                status = 202 if jobs else 200
                delivery = self.record(outcome, reason, status, jobs=[j.pk for j in jobs + twins])
        except IntegrityError:
            # A redelivery of an id already accepted (the partial unique
            # constraint): rolled back whole, answered with the first jobs.
            earlier = M.Delivery.objects.filter(
                provider=self.forge.provider, delivery_id=self.delivery_id, outcome=M.ACCEPTED
            ).first()
            jobs = list(earlier.jobs.values_list("pk", flat=True)) if earlier else []
            return self.answer(M.DUPLICATE, f"delivery {self.delivery_id} was already received", 200, jobs=jobs)
        body = {"delivery": delivery.pk, "outcome": outcome, "jobs": [j.pk for j in jobs + twins]}
        if reason:
            body["reason"] = reason
        return JsonResponse(body, status=status)

    def duplicate_reason(self, twin):
        # Only on this rare path: was it the same delivery, or a new one for
        # the same push (a forge retry with a fresh id, a second hook)?
        if (
            self.delivery_id
            and M.Delivery.objects.filter(
                provider=self.forge.provider, delivery_id=self.delivery_id, outcome=M.ACCEPTED
            ).exists()
        ):
            return f"delivery {self.delivery_id} was already received"
        # Any earlier job of this commit for this ref counts (create_job): a
        # signed delivery sent again later must not build it again.
        return (
            f"commit {twin.commit[:12]} of {twin.ref} already has job #{twin.number};"
            " rebuild that job to build it again"
        )

    def record(self, outcome, reason, status_code, jobs=()):
        keep = M.BODY_KEEP_BYTES if outcome in (M.ACCEPTED, M.DUPLICATE, M.IGNORED) else M.REJECTED_BODY_KEEP_BYTES
        # Masked before it is cut (a little past the cut, so no secret is
        # left half-shown at the end): webhooks/masking.py says why.
        secrets = [self.repository.webhook_secret] if self.repository else []
        text = self.body[: keep + 1024].decode("utf-8", errors="replace").replace("\x00", "\\x00")
        text = mask(text, secrets)[:keep]
        headers = {h: storable(self.headers[h]) for h in self.forge.recorded_headers if h in self.headers}
        return M.Delivery(
            provider=self.forge.provider,
            delivery_id=self.delivery_id,
            event=self.event,
            outcome=outcome,
            reason=reason[:500],
            status_code=status_code,
            repository=self.repository,
            repository_name=storable(self.repository_name)[:255],
            headers=headers,
            body=text,
            body_size=len(self.body),
            body_truncated=len(self.body) > keep,
            replay_of=self.replay_of,
            authenticated=self.authenticated,
            received_at=self.received_at,
            journal_entry=self.journal_entry,
        ).save_with_jobs(jobs)

    def answer(self, outcome, reason, status, jobs=None, public_reason=None):
        reason = one_line(reason)[:500]
        delivery_pk = None
        if self.live and journal.database_down():
            log.warning(
                "webhook %s %s answered %s (%s), not recorded: the database is unavailable",
                self.forge.provider,
                self.delivery_id,
                status,
                reason,
            )
        else:
            try:
                delivery_pk = self.record(outcome, reason, status, jobs=jobs or ()).pk
            except UNAVAILABLE as e:
                if self.journal_entry:
                    raise
                journal.database_failed()
                log.warning(
                    "webhook %s %s answered %s (%s), not recorded: database unavailable (%s)",
                    self.forge.provider,
                    self.delivery_id,
                    status,
                    reason,
                    one_line(str(e))[:200],
                )
            except Exception:
                log.exception("could not record a %s delivery", self.forge.provider)
        body = {"delivery": delivery_pk, "outcome": outcome, "reason": public_reason or reason}
        if jobs is not None:
            body["jobs"] = jobs
        return JsonResponse(body, status=status)


def replay_journaled(entry):
    """Record one journaled delivery through the flow, as received at its
    original time; False while the database is still unavailable."""
    forge = forges.get(entry.provider)
    try:
        # Recorded already: the process stopped between the commit and
        # removing the file.
        if M.Delivery.objects.filter(journal_entry=entry.name).exists():
            return True
        Receiver(
            forge.webhook, entry.headers, entry.body, received_at=entry.received_at, journal_entry=entry.name
        ).handle()
        if not M.Delivery.objects.filter(journal_entry=entry.name).exists():
            raise RuntimeError("the replay recorded no delivery")
    except UNAVAILABLE:
        return False  # the drainer says so, once
    return True


drainer = journal.Drainer(replay_journaled)


def resume_journal():
    """At start-up: replay what a previous run left in the journal (its
    drainer stopped with it), without waiting for a new delivery."""
    if journal.pending():
        log.warning("webhook journal: %d deliveries from before the restart wait; replaying", len(journal.entries()))
        drainer.start()
