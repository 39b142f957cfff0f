"""What every container of a build runs with (HERALD_* settings)."""

from django.conf import settings


def containment_options():
    """What every build and service container runs with (HERALD_* settings):
    never privileged, no capabilities but a few, no setuid escalation, and
    memory, CPU and process limits. Nothing of the host is mounted — in
    particular never the Docker socket; the only mount is the job's volume."""
    options = {
        "privileged": False,
        "cap_drop": ["ALL"],
        "cap_add": list(settings.HERALD_CAP_ADD),
        "security_opt": ["no-new-privileges"],
    }
    if settings.HERALD_MEMORY_LIMIT:
        options["mem_limit"] = settings.HERALD_MEMORY_LIMIT
        # Same as the memory limit: no swap on top of it.
        options["memswap_limit"] = settings.HERALD_MEMORY_LIMIT
    if settings.HERALD_CPUS:
        options["nano_cpus"] = int(settings.HERALD_CPUS * 1e9)
    if settings.HERALD_PIDS_LIMIT:
        options["pids_limit"] = settings.HERALD_PIDS_LIMIT
    # Herald reads the output live (attach) and keeps what HERALD_LOG_MAX_BYTES
    # allows; dockerd's own copy of it, unbounded by default, would let a build
    # that prints without end fill the engine's disk.
    options["log_config"] = {"type": "json-file", "config": {"max-size": "10m", "max-file": "1"}}
    return options


def build_limits():
    """The part of the limits `docker build` accepts for its RUN containers."""
    limits = {}
    if settings.HERALD_MEMORY_LIMIT:
        limits["memory"] = settings.HERALD_MEMORY_LIMIT
        limits["memswap"] = settings.HERALD_MEMORY_LIMIT
    if settings.HERALD_CPUS:
        limits["cpuperiod"] = 100000
        limits["cpuquota"] = int(settings.HERALD_CPUS * 100000)
    return limits
