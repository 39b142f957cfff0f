"""Database helpers that depend on the engine."""

import fcntl
import os
from contextlib import contextmanager, nullcontext

from django.conf import settings
from django.db import connection


@contextmanager
def _sqlite_writer_turn():
    # SQLite lets one writer in at a time; the others wait in its busy
    # handler, which sleeps in steps of up to 100 ms however soon the lock
    # frees. Queueing on a file lock instead wakes the next writer the
    # moment the previous one commits: under a burst of webhooks, several
    # times the throughput and a fraction of the tail latency.
    path = os.path.join(settings.DATA_DIR, "sqlite-writers.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def writer_turn():
    """Wrap a short write transaction: a no-op except on SQLite."""
    if connection.vendor == "sqlite":
        return _sqlite_writer_turn()
    return nullcontext()


def _insert_fields(model):
    return [f for f in model._meta.concrete_fields if f is not model._meta.pk]


def insert(obj, wrap=None, extra_params=()):
    """Save a new model instance with one INSERT ... RETURNING id.

    For the webhook's hot path, where Model.save() cost a third more Python
    than the statement itself: the same values (each field's pre_save and
    get_db_prep_save, so defaults, auto_now and encryption apply), without
    the query compiler and without pre_save/post_save signals — use it only
    for models that have none. `wrap` may embed the INSERT in a larger
    statement (a CTE) that still returns the new id first.
    """
    model = type(obj)
    fields = _insert_fields(model)
    qn = connection.ops.quote_name
    returning = connection.features.can_return_columns_from_insert
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        + (f" RETURNING {qn(model._meta.pk.column)}" if returning else "")
    )
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    if wrap is not None:
        sql = wrap(sql)
        params += list(extra_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def fetch_one(model, where, params):
    """model.objects.raw(...) for one row on a hot path: the same values
    (the backend's and each field's converters, from_db), without the
    RawQuerySet machinery, which cost more Python than the query.
    `where` is SQL after WHERE (and may end with ORDER BY / LIMIT)."""
    fields = model._meta.concrete_fields
    qn = connection.ops.quote_name
    sql = f"SELECT {', '.join(qn(f.column) for f in fields)} FROM {qn(model._meta.db_table)} WHERE {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for field, value in zip(fields, row):
        col = field.cached_col
        for converter in connection.ops.get_db_converters(col) + field.get_db_converters(connection):
            value = converter(value, col, connection)
        values.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], values)
