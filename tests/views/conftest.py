import pytest
from django.utils import timezone


@pytest.fixture
def users(db):
    """An owner (admin), a member who may push, a reader, an outsider and staff."""
    from django.contrib.auth.models import User

    class Users:
        pass

    u = Users()
    u.admin = User.objects.create_user("owner", password="pw-owner")
    u.pusher = User.objects.create_user("pusher", password="pw-pusher")
    u.reader = User.objects.create_user("reader", password="pw-reader")
    u.outsider = User.objects.create_user("outsider", password="pw-outsider")
    u.staff = User.objects.create_user("staff", password="pw-staff", is_staff=True)
    return u


@pytest.fixture
def member(db):
    from repositories.models import Membership

    def grant(user, repo, permission):
        Membership.objects.create(user=user, repository=repo, permission=permission)

    return grant


@pytest.fixture
def make_job(db):
    from builds.models import Job

    def make(repository, **kw):
        repository.refresh_from_db()
        number = (Job.objects.filter(repository=repository).order_by("-number").values_list("number", flat=True).first() or 0) + 1
        kw.setdefault("commit", f"{number:040x}")
        kw.setdefault("branch", "main")
        kw.setdefault("ref", f"refs/heads/{kw['branch']}")
        kw.setdefault("message", f"change {number}")
        kw.setdefault("author", "Ada Tester")
        job = Job.objects.create(repository=repository, number=number, **kw)
        type(repository).objects.filter(pk=repository.pk).update(job_counter=number)
        return job

    return make


@pytest.fixture
def add_log(db):
    """Store text as LogChunks of `size` characters (boundaries anywhere, as
    the writer's are), after any already stored."""
    from django.db.models import Max

    from builds.models import LogChunk

    def add(job, text, size=64 * 1024, created=None):
        seq = LogChunk.objects.filter(job=job).aggregate(m=Max("seq"))["m"] or 0
        rows = []
        for start in range(0, len(text), size):
            seq += 1
            rows.append(LogChunk(job=job, seq=seq, text=text[start:start + size], created=created or timezone.now()))
        LogChunk.objects.bulk_create(rows)
        return seq

    return add


def finished(**kw):
    now = timezone.now()
    return {"status": "success", "started_at": now - timezone.timedelta(seconds=42), "finished_at": now, **kw}
