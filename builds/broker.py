"""django-q2's ORM broker, enqueueing with one plain INSERT.

The stock broker creates the OrmQ row through the ORM and reads its id
back, which the webhook never needs: on PostgreSQL that read ends a
pipelined batch (see webhooks.views.Receiver.accept), and on either
database the ORM's save machinery cost more than the INSERT itself. The
row is the same one django-q2's own enqueue writes; everything else
(dequeue, ack, the cluster) is django-q2's.
"""

from django.db import connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ


class HeraldORM(ORM):
    def enqueue(self, task):
        self.get_connection()  # django-q2's stale-connection handling
        connection = connections[Conf.ORM]
        table = connection.ops.quote_name(OrmQ._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({connection.ops.quote_name('key')}, payload, lock) VALUES (%s, %s, %s)",
                [self.list_key or Conf.CLUSTER_NAME, task, now],
            )
        return None
