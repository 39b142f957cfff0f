"""Schedules (issue 14 §2): a repository's builds at the times of a cron
expression, in a time zone of its choice, on a branch, with parameters.

- `cron.py` — the expression and the zone: checked (exactly five fields,
  croniter's reason when it does not parse) and the next time computed,
  DST included, in the schedule's own zone;
- `firing.py` — django-q2's part: one periodic django-q2 schedule
  (`herald-schedules`, every minute) runs `fire_due`, which starts the
  builds of the Herald schedules whose `next_run_at` has passed. django-q2's
  own CRON type is not used: it evaluates every expression in the server's
  TIME_ZONE (django_q.models.Schedule.calculate_next_run), and a schedule
  here has its own zone;
- `forms.py` — one validation for the settings page, the admin and the API;
- `views.py`, `api.py` — the pages and `/api/.../schedules`.

A schedule's build is a run-now by the schedule (builds.runnow.start):
event `cron`, triggered_by "schedule: <name>", the branch resolved on the
clone URL and the parameters checked against the commit's `.herald.yml`.

Catch-up: `next_run_at` is the one time a schedule waits for. When it has
passed — however many times the expression matched meanwhile (the server
was down) — one build starts, and the next time is computed from now, so a
server back after three days runs an hourly schedule once, not 72 times.
"""
