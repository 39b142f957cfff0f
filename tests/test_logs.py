"""HERALD_LOG_FORMAT=json: one JSON object a line, with the job id where
there is one; plain text stays the default."""

import io
import json
import logging
import time

import requests
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from ciproject.logs import JobFilter, current_job


def json_handler(stream):
    fmt = settings.LOGGING["formatters"]["json"]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(fmt["fmt"], rename_fields=fmt["rename_fields"]))
    handler.addFilter(JobFilter())
    return handler


def test_lines_about_a_job_carry_its_id():
    stream = io.StringIO()
    logger = logging.getLogger("herald.test.logs")
    logger.addHandler(json_handler(stream))
    logger.propagate = False
    try:
        logger.warning("before")
        token = current_job.set(42)
        try:
            logger.warning("while job %s runs", 42)
        finally:
            current_job.reset(token)
        logger.warning("after")
    finally:
        logger.handlers.clear()
        logger.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["before", "while job 42 runs", "after"]
    assert [line.get("job_id") for line in lines] == [None, 42, None]
    assert {"time", "level", "logger"} <= set(lines[1]) and lines[1]["level"] == "WARNING"


def json_lines(path):
    lines = []
    for raw in path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


def test_a_running_server_logs_json_lines(live_herald):
    herald = live_herald(HERALD_LOG_FORMAT="json")
    assert requests.get(herald.url + "/no-such-page", timeout=10).status_code == 404
    # gunicorn writes its access line once the answer is sent.
    deadline = time.monotonic() + 10
    while True:
        lines = json_lines(herald.log_path)
        access = [x for x in lines if x.get("logger") == "gunicorn.access" and x.get("path") == "/no-such-page"]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(
        line.get("logger") == "django.request" and "/no-such-page" in line["message"] and line["level"] == "WARNING"
        for line in lines
    ), herald.log_path.read_text()[-2000:]
    # gunicorn's access log: one object a request, its fields as fields.
    assert access and access[0]["status"] == 404 and access[0]["method"] == "GET", lines[-5:]
    assert access[0]["duration_ms"] >= 0 and access[0]["query"] == ""
