"""Images a job's containers run: looked up once per job, pulled when missing
(HERALD_PULL_POLICY), the pull's progress in the build's log."""

from django.conf import settings
from docker import errors as derrors

from builds.docker.client import short_error
from builds.errors import BuildError


class Images:
    def __init__(self, client, log_writer, check_stop):
        self.client = client
        self.log = log_writer
        self.check_stop = check_stop  # raises Stopped: a pull may take long
        self._configs = {}

    def config(self, image):
        if image not in self._configs:
            self._configs[image] = self.client.images.get(image).attrs.get("Config") or {}
        return self._configs[image]

    def ensure(self, image):
        try:
            self.config(image)
            return
        except derrors.ImageNotFound:
            pass
        except derrors.APIError as e:
            raise BuildError(f"Docker could not look up image {image}: {short_error(e)}") from None
        if settings.HERALD_PULL_POLICY == "never":
            raise BuildError(f"Image {image} is not on the worker and HERALD_PULL_POLICY=never.")
        self.log.note(f"Pulling {image}")
        repo, tag = split_image(image)
        try:
            last = None
            for event in self.client.api.pull(repo, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise BuildError(f"Pulling {image} failed: {event['error']}")
                status = event.get("status", "")
                if status and status != last and "Downloading" not in status and "Extracting" not in status:
                    self.log.write(f"{event.get('id', '') + ': ' if event.get('id') else ''}{status}\n")
                    last = status
                self.check_stop()
        except derrors.DockerException as e:
            raise BuildError(f"Pulling {image} failed: {short_error(e)}") from None


def split_image(image):
    name, _, digest = image.partition("@")
    if digest:
        return name, digest
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
        return repo, tag
    return name, "latest"
