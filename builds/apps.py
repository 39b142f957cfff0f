import sys
import threading

from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Here, not at the top: django_q.signals imports django-q2's models,
        # which exist only once the app registry is ready.
        from django_q.signals import post_spawn

        post_spawn.connect(start_housekeeping, dispatch_uid="herald-housekeeping")
        if sys.argv[1:2] == ["qcluster"]:
            # Import what builds need before django-q2 forks its workers, so
            # the pages are shared between them instead of copied into each
            # (and only in a worker: the web server never runs a build).
            import builds.housekeeping  # noqa: F401
            import builds.runner  # noqa: F401
            import builds.tasks  # noqa: F401


_started = False


def start_housekeeping(sender, proc_name=None, **kwargs):
    """In every django-q2 worker process: start the housekeeping thread
    (builds.housekeeping), once."""
    global _started
    if _started:
        return
    _started = True
    # Not at the top: this module is imported before the app registry is
    # ready, and housekeeping imports models.
    from builds.housekeeping import run_forever

    threading.Thread(target=run_forever, name="herald-housekeeping", daemon=True).start()
