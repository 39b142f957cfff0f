import logging
import threading
import time

from django.apps import AppConfig

log = logging.getLogger(__name__)


class BuildsConfig(AppConfig):
    name = "builds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        import sys

        from django_q.signals import post_spawn

        post_spawn.connect(start_housekeeping, dispatch_uid="herald-housekeeping")
        if sys.argv[1:2] == ["qcluster"]:
            # Import what builds need before django-q2 forks its workers, so
            # the pages are shared between them instead of copied into each.
            import builds.runner  # noqa: F401
            import builds.tasks  # noqa: F401


_started = False


def start_housekeeping(sender, proc_name=None, **kwargs):
    """In every django-q2 worker process: report this machine alive and reap
    lost jobs, so a dead worker's job is marked within a minute even when no
    build is running anywhere."""
    global _started
    if _started:
        return
    _started = True
    threading.Thread(target=_housekeeping_loop, name="herald-housekeeping", daemon=True).start()


def _housekeeping_loop():
    from django.conf import settings
    from django.db import close_old_connections

    from builds import runner, tasks

    interval = max(2.0, settings.HERALD_WORKER_LOST_SECONDS / 3)
    last_sweep = 0.0
    while True:
        try:
            tasks.beat()
            runner.beat_active()
            now = time.monotonic()
            if now - last_sweep >= 60:
                last_sweep = now
                tasks.reap()
            else:
                tasks.reap_lost()
        except Exception:
            log.exception("housekeeping failed")
        finally:
            close_old_connections()
        time.sleep(interval)
