"""A job's life before it runs: creating it (with dedupe and supersede),
approval for pull requests from outside, the jobs of a matrix build, a
restart.

A job is created first and its token enqueued with its transaction
(builds.queue); which queued job a worker then starts is builds.claim's
business.
"""

import hashlib
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from builds import constants as C
from builds.models import Job, report_end_and_wake_next
from builds.queue import enqueue_in_transaction, enqueue_token
from repositories.commit_status import queue_commit_status
from repositories.models import APPROVE_FORKS, APPROVE_NONE, ForgeAccount, Membership


def create_job(
    repository,
    *,
    event,
    commit,
    ref="",
    branch="",
    tag="",
    message="",
    author="",
    dedupe_seconds=None,
    auto_cancel=True,
    approval=True,
    author_id="",
    author_login="",
    received_at=None,
    **extra,
):
    """Create a queued job — or a blocked one, for a pull request the
    repository's approval policy holds back — unless a twin exists.

    A twin is a job of the same repository, event, ref and commit: by
    default (dedupe_seconds=None, what webhooks use) any such job, however
    old, so a signed delivery captured and sent again under a new delivery
    id builds nothing and cancels nothing; with dedupe_seconds=N only one
    made in the last N seconds; with 0, none (a rebuild, a replay an admin
    asked for). `approval=False` skips the policy: the caller is someone
    with push rights asking for this build. author_id / author_login: who
    opened a pull request, as the forge names them.

    received_at: when a delivery that waited in the webhook journal (the
    database was away) reached Herald. The job is dated then, and a push
    received after it that was built first (another web process reached
    the database sooner) is not superseded by it: it is itself superseded.

    Returns (job, created). Must be called inside transaction.atomic().
    """
    assert not transaction.get_autocommit(), "call inside transaction.atomic()"
    # Deliveries of the same push, and pushes to the same branch or pull
    # request, take turns from here to the commit: the second one sees the
    # first's job below (a twin, or a job to supersede). Other pushes to the
    # repository don't wait for each other.
    lock_push(repository.pk, event, ref)
    # A push supersedes the active jobs of its branch, a pull request those
    # of the same pull request.
    pr_number = extra.get("pr_number")
    supersedes = {}
    if auto_cancel and repository.auto_cancel:
        if event == C.PUSH and branch:
            supersedes = {"branch": branch}
        elif event == C.PULL_REQUEST and pr_number:
            supersedes = {"pr_number": pr_number}
    twin_id, older, number = _related_jobs(repository, event, ref, commit, dedupe_seconds, supersedes)
    newer = None
    if received_at is not None and supersedes and twin_id is None:
        newer = (
            Job.objects.filter(repository=repository, event=event, created_at__gt=received_at, **supersedes)
            .order_by("-created_at", "-id")
            .first()
        )
        if older:
            older = list(Job.objects.filter(pk__in=older, created_at__lt=received_at).values_list("pk", flat=True))
    if twin_id is not None:
        twin = Job.objects.select_related("group").get(pk=twin_id)
        # A matrix job's siblings share its fields: answer with the whole build.
        first = twin.group if twin.group_id else twin
        first.siblings = list(Job.objects.filter(group=first).exclude(pk=first.pk).order_by("id"))
        return first, False
    waiting = ""
    if approval and event == C.PULL_REQUEST:
        waiting = approval_needed(
            repository, extra.get("from_fork"), extra.get("source_repo", ""), author_id, author_login
        )
    if waiting:
        extra.update(status=C.BLOCKED, reason=waiting[:500])
    fields = dict(event=event, ref=ref, branch=branch, tag=tag, commit=commit, message=message, author=author[:255])
    if received_at is not None:
        fields["created_at"] = received_at
    fields.update(extra)
    hint = repository.matrix_hint or []
    matrix_build = len(hint) > 1 and "matrix" not in extra
    routes = {}
    if "runs_on" not in fields:
        routes = predict_runs_on(repository, hint if matrix_build else [fields.get("matrix") or {}])
        fields["runs_on"] = routes[_key(hint[0] if matrix_build else fields.get("matrix"))]
    job = Job.objects.create(repository=repository, number=number or repository.next_job_number(), **fields)
    for old in Job.objects.filter(pk__in=older) if older else ():
        old.request_cancel(f"Superseded by #{job.number}")
    if not waiting:
        enqueue_in_transaction()
    queue_commit_status(job)
    job.siblings = []
    if matrix_build:
        # A matrix build, judging by the last pipeline read: make every job
        # now, so the webhook answer lists them all. Each job checks its
        # combination against this commit's file when it runs (and the
        # first adds any combination the prediction missed).
        Job.objects.filter(pk=job.pk).update(matrix=hint[0], group=job)
        job.matrix, job.group = hint[0], job
        for values in hint[1:]:
            sibling = Job.objects.create(
                repository=repository,
                number=repository.next_job_number(),
                group=job,
                matrix=values,
                **{**fields, "runs_on": routes.get(_key(values), fields["runs_on"])},
            )
            if not waiting:
                enqueue_in_transaction()
            queue_commit_status(sibling)
            job.siblings.append(sibling)
    if newer is not None:
        why = f"Superseded by #{newer.number}, pushed later and built while this push waited for the database"
        for each in (job, *job.siblings):
            each.request_cancel(why)
    return job, True


def predict_runs_on(repository, combinations):
    """{matrix combination (as _key): the labels (builds.labels.key)} its
    new job is predicted to need: those the last pipeline read asked for
    that combination (Repository.runs_on_hint, kept by builds.routing),
    else the labels every combination asked for alike. The worker that
    claims the job reads the real runs_on: and hands the job back if it
    lacks one (Job.hand_back)."""
    hint = repository.runs_on_hint or {}
    shared = set(hint.values())
    fallback = shared.pop() if len(shared) == 1 else ""
    return {_key(c): hint.get(hint_key(c), fallback) for c in combinations}


def hint_key(values):
    """A matrix combination as a key of Repository.runs_on_hint (JSON: a string)."""
    return ",".join(f"{k}={v}" for k, v in _key(values))


def lock_push(repository_id, event, ref):
    """Serialise work on one (repository, event, ref) until the transaction
    ends. SQLite needs nothing: its writers are serialised already."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{repository_id}\0{event}\0{ref}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


ACTIVE_SQL = "(" + ", ".join(f"'{status}'" for status in C.ACTIVE_STATUSES) + ")"


def _related_jobs(repository, event, ref, commit, dedupe_seconds, supersedes):
    """(id of a twin — see create_job — or None, ids of the active jobs a
    new one supersedes, and — on PostgreSQL — the new job's number), in one
    round trip.

    Hand-written SQL, measured: the same two lookups through the ORM cost
    550 µs against 140 µs for this statement (SQLite, this machine), 29 % of
    an accepted webhook's 1.4 ms (make bench, (a)). Each part uses its own
    index (job_repo_dedupe; job_active_branch / job_active_pr). On
    PostgreSQL the number is drawn in the same statement (a twin then leaves
    a gap in the numbers, never a repeat).
    """
    job, commit_col = Job._meta.db_table, connection.ops.quote_name("commit")
    parts, params = [], []
    if dedupe_seconds != 0:
        parts.append(
            f"SELECT id, 1 FROM {job} WHERE repository_id = %s AND event = %s AND ref = %s AND {commit_col} = %s"
        )
        params += [repository.pk, event, ref, commit]
        if dedupe_seconds:
            parts[-1] += " AND created_at >= %s"
            params.append(connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(seconds=dedupe_seconds)))
    for column, value in supersedes.items():  # branch or pr_number
        # The statuses written out, as in the partial indexes' condition: a
        # bound parameter there would keep both databases from using them.
        parts.append(
            f"SELECT id, 0 FROM {job} WHERE repository_id = %s AND event = %s AND {column} = %s"
            f" AND status IN {ACTIVE_SQL}"
        )
        params += [repository.pk, event, value]
    if connection.vendor == "postgresql":
        number_sql, number_params = repository.next_number_sql()
        parts.insert(0, f"SELECT ({number_sql}), 2")
        params = number_params + params
    rows = []
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            rows = cursor.fetchall()
    twins = [pk for pk, kind in rows if kind == 1]
    number = next((pk for pk, kind in rows if kind == 2), None)
    return (max(twins) if twins else None), [pk for pk, kind in rows if kind == 0], number


def approval_needed(repository, from_fork, source_repo, author_id, author_login):
    """Why a pull request must wait for approval, or "" when it may run.

    "outsiders": whoever opened it must be known to Herald as someone with
    push rights — a forge account that signed in here (matched by the
    forge's immutable user id when the payload gives one: a login can be
    renamed and then taken by someone else) whose user has push rights to
    the repository or is staff. A local account of the same name proves
    nothing: anyone can pick a login on a forge.
    """
    policy = repository.approval
    if policy == APPROVE_NONE:
        return ""
    if policy == APPROVE_FORKS:
        return f"Waiting for approval: a pull request from the fork {source_repo or '(unknown)'}" if from_fork else ""
    who = str(author_id or "")
    accounts = ForgeAccount.objects.filter(provider=repository.provider)
    if who:
        accounts = accounts.filter(uid=who)
    elif author_login:
        accounts = accounts.filter(login__iexact=author_login)
    else:
        return "Waiting for approval: the forge did not say who opened the pull request"
    pushers = Membership.objects.filter(repository=repository, permission__in=(Membership.PUSH, Membership.ADMIN))
    if accounts.filter(Q(user__is_staff=True) | Q(user__in=pushers.values("user"))).exists():
        return ""
    return f"Waiting for approval: opened by {author_login or who}, who has no push rights to {repository.full_name}"


def _build_of(job):
    """The job and the other jobs of its matrix build."""
    first = job.group_id or job.pk
    return Job.objects.filter(Q(pk=first) | Q(group_id=first))


def approve(job, user):
    """Queue a blocked build — the job with the rest of its matrix, which
    is what someone approving a pull request means. Returns the jobs it
    queued: none when someone else decided first (another approval, a
    decline, a newer push superseding it)."""
    name, now = user.get_username(), timezone.now()
    with transaction.atomic():
        # Conditional on `blocked`: of an approval and a decline racing,
        # whichever UPDATE lands first takes the rows; the other matches
        # none. The rows this one took are those carrying its time stamp.
        if (
            not _build_of(job)
            .filter(status=C.BLOCKED)
            .update(status=C.QUEUED, reason="", approved_by=name, approved_at=now)
        ):
            return []
        approved = list(
            _build_of(job)
            .filter(status=C.QUEUED, approved_by=name, approved_at=now)
            .select_related("repository")
            .order_by("id")
        )
        for queued in approved:
            enqueue_in_transaction()
            queue_commit_status(queued)
    return approved


def decline(job, user):
    """Cancel a blocked build (with the rest of its matrix) without running
    anything; returns the jobs declined (none if someone decided first)."""
    name, now = user.get_username(), timezone.now()
    with transaction.atomic():
        if (
            not _build_of(job)
            .filter(status=C.BLOCKED)
            .update(
                status=C.CANCELLED,
                reason=f"Declined by {name}"[:500],
                declined_by=name,
                finished_at=now,
                cancel_requested=True,
            )
        ):
            return []
        declined = list(
            _build_of(job)
            .filter(status=C.CANCELLED, declined_by=name, finished_at=now)
            .select_related("repository")
            .order_by("id")
        )
        for done in declined:
            transaction.on_commit(lambda done=done: report_end_and_wake_next(done))
    return declined


def expand_matrix(job, combinations):
    """The first job of a matrix build takes the first combination and
    queues a sibling job for each other one; returns the siblings.

    Done under create_job's lock for this job's event and ref: a push
    arriving meanwhile either sees the siblings (and auto-cancels them with
    the rest of the branch) or has already asked this job to stop (and then
    no sibling is made).
    """
    siblings = []
    with transaction.atomic():
        lock_push(job.repository_id, job.event, job.ref)
        if not job.matrix:
            Job.objects.filter(pk=job.pk).update(matrix=combinations[0], group=job)
            job.matrix, job.group = combinations[0], job
        # Jobs made from a prediction already hold some combinations.
        have = {_key(m) for m in Job.objects.filter(group=job).values_list("matrix", flat=True)}
        combinations = [c for c in combinations if _key(c) not in have]
        current = Job.objects.filter(pk=job.pk).values("status", "cancel_requested").get()
        if current["status"] != C.RUNNING or current["cancel_requested"]:
            return []
        for values in combinations:
            siblings.append(
                Job.objects.create(
                    repository_id=job.repository_id,
                    number=job.repository.next_job_number(),
                    group=job,
                    matrix=values,
                    triggered_by=job.triggered_by,
                    # Routed exactly by the runner next (builds.routing).
                    runs_on=job.runs_on,
                    runs_on_read=job.runs_on_read,
                    **job.trigger_fields(),
                )
            )
        if siblings:
            transaction.on_commit(lambda: enqueue_token(len(siblings)))
        for sibling in siblings:
            queue_commit_status(sibling)
    return siblings


def _key(values):
    return tuple(sorted((str(k), str(v)) for k, v in (values or {}).items()))


def remember_matrix(repository, combinations):
    """Keep the repository's matrix hint in step with its pipeline file."""
    combinations = combinations if len(combinations) > 1 else []
    if [_key(c) for c in combinations] != [_key(c) for c in repository.matrix_hint or []]:
        type(repository).objects.filter(pk=repository.pk).update(matrix_hint=combinations)
        repository.matrix_hint = combinations


def restart(job, user=None, **extra):
    """A new job for the same commit and event (and, for a job of a matrix,
    the same combination). It supersedes nothing: auto-cancel is for pushes.
    Only people with push rights restart, so a pull request from outside
    rebuilt this way runs without a second approval. `extra`: more of the
    new job's fields (a retry from a step's, builds.retry)."""
    with transaction.atomic():
        new, _ = create_job(
            job.repository,
            **job.trigger_fields(),
            matrix=job.matrix,
            runs_on=job.runs_on,
            runs_on_read=job.runs_on_read,
            restarted_from=job,
            dedupe_seconds=0,
            auto_cancel=False,
            approval=False,
            triggered_by=getattr(user, "username", "") or "",
            **extra,
        )
    return new
