"""Herald's own log: plain text by default, or one JSON object a line
(HERALD_LOG_FORMAT=json, through python-json-logger) with the id of the job
a line is about, where there is one."""

import contextvars
import logging

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
