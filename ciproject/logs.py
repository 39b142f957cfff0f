"""Herald's own log: plain text by default, or one JSON object a line
(HERALD_LOG_FORMAT=json, through python-json-logger) with the id of the job
a line is about, where there is one."""

import contextvars
import logging
import traceback

from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter

# The JSON lines' fields (HERALD_LOG_FORMAT=json; settings.LOGGING uses them too).
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}

# Set while a worker runs a job (builds.tasks.run_next_job).
current_job = contextvars.ContextVar("herald_current_job", default=None)


class JobFilter(logging.Filter):
    """Adds `job_id` to the records logged while a job runs (the JSON
    formatter writes every such extra attribute)."""

    def filter(self, record):
        job_id = current_job.get()
        if job_id is not None and not hasattr(record, "job_id"):
            record.job_id = job_id
        return True


class GunicornJsonLogger(glogging.Logger):
    """gunicorn's logger with HERALD_LOG_FORMAT=json (`manage.py serve`
    passes it as --logger-class): its own lines and one access line a
    request, each one JSON object (the request's fields as fields, so no
    path or user agent can break the line)."""

    def setup(self, cfg):
        super().setup(cfg)
        formatter = JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        try:
            self.access_log.info(
                "%s %s %s",
                atoms["m"],
                atoms["U"],
                atoms["s"],
                extra={
                    "remote": atoms["h"],
                    "method": atoms["m"],
                    "path": atoms["U"],
                    "query": atoms["q"],
                    "status": int(atoms["s"]),
                    "bytes": atoms["B"],
                    "duration_ms": atoms["D"] / 1000,
                    "user_agent": atoms["a"],
                },
            )
        except Exception:
            self.error(traceback.format_exc())
