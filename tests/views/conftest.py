import pytest
from django.utils import timezone


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
            rows.append(LogChunk(job=job, seq=seq, text=text[start : start + size], created=created or timezone.now()))
        LogChunk.objects.bulk_create(rows)
        return seq

    return add
