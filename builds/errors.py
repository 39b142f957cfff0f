"""The two families of things that end a build early.

BuildError: Herald could not run the build (clone failed, invalid pipeline,
Docker unreachable) → `errored`, with the message as the job's reason.
The build's own outcomes (non-zero exit, timeout, cancel) are results, not
exceptions; the runner maps them to statuses (Runner.run_step, Runner.stop_outcome).
"""


class BuildError(Exception):
    """Ours, not the build's: the job ends `errored` with this message."""


class CloneError(BuildError):
    pass


class PipelineError(BuildError):
    """The build definition cannot be used; `line` is where, when known."""

    def __init__(self, message, line=None):
        super().__init__(message)
        self.line = line


class DockerUnavailable(BuildError):
    pass
