"""`build:` steps: a `docker build` of the workspace whose output is the
build's log, and the per-repository build cache it builds from.

Docker's build cache is the engine's, shared by every repository: a RUN
line whose result depends on the network (a download, a service) would hand
one repository's layer to another's identical line. So each repository
builds only from its own earlier images: the classic builder, given
`cachefrom`, looks nowhere else (a name that does not exist yet means no
cache at all). Pull requests from forks read the repository's cache but
never write it.
"""

import datetime
import logging
import socket
import time

import docker
import requests
from django.conf import settings
from docker import errors as derrors
from docker.utils.json_stream import json_stream

from builds import constants as C
from builds.docker.build_context import pack_directory, retar_volume_context
from builds.docker.client import short_error
from builds.errors import BuildError

log = logging.getLogger(__name__)


def build_context(workspace, context, dockerfile):
    """What `docker build` is sent → (tar file object, the Dockerfile's path
    in it). The checkout on the worker, or — once a command step has run in
    copy mode — the shared workspace volume, so a build step sees what
    earlier steps produced."""
    if workspace.volume is not None and not workspace.on_host:
        raw, top = workspace.archive(context, "build context")
        try:
            return retar_volume_context(raw, top, dockerfile)
        finally:
            raw.close()
    # The checkout itself (bind mode, or before any command step):
    # resolved and packed without following links out of it.
    return pack_directory(workspace.checkout, context, dockerfile)


class DockerBuild:
    """One `docker build`: started, its output read as log bytes (`output`),
    interrupted from another thread (`interrupt`), closed. `error` and
    `code` say how it failed."""

    def __init__(self, archive, params, job_id):
        self.archive = archive
        self.params = params
        self.job_id = job_id
        self.api = None
        self.response = None
        self.error = None
        self.code = None

    def start(self):
        # A client of its own with no read timeout: a silent RUN step may
        # take longer than any sensible API timeout.
        api = self.api = docker.from_env(timeout=None).api
        try:
            # The low-level call rather than api.build(), which hides the
            # response in a generator: cancelling needs it (see interrupt).
            # docker-py's _post, not requests' post: it adds the HttpHeaders
            # of the user's Docker config, as every docker-py call does.
            self.response = api._post(
                f"{api.base_url}/v{api.api_version}/build",
                data=self.archive,
                params=self.params,
                headers={"Content-Type": "application/tar"},
                stream=True,
                timeout=None,
            )
            _raise_for_status(self.response)
        except derrors.APIError as e:
            self.close()
            raise BuildError(f"Docker refused the build: {short_error(e)}") from None

    def output(self):
        for event in json_stream(self.response.iter_content(chunk_size=None)):
            if "stream" in event:
                yield event["stream"].encode()
            elif "error" in event:
                self.error = event["error"]
                self.code = (event.get("errorDetail") or {}).get("code")
                yield (event["error"].rstrip("\n") + "\n").encode()
            elif "status" in event:
                yield (event["status"] + "\n").encode()

    def interrupt(self):
        # Shut the connection down under the reader thread (closing the
        # response would wait for its read to return, i.e. for the RUN
        # instruction to finish); dockerd then cancels the build. No public
        # API reaches the socket: this private path is what cancelling a
        # running build needs.
        try:
            raw = self.response.raw._fp.fp.raw  # the SocketIO under http.client
            getattr(raw, "_sock", raw).shutdown(socket.SHUT_RDWR)
        except Exception:
            log.exception("job %s: could not interrupt docker build", self.job_id)

    def close(self):
        self.api.close()
        self.archive.close()


def _raise_for_status(response):
    """docker-py's own check of a response, through its public pieces."""
    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as e:
        derrors.create_api_error_from_http_exception(e)  # raises the APIError docker-py would


def cache_repository(repository_id):
    """The image name a repository's build cache is tagged under."""
    return f"herald-{settings.HERALD_INSTANCE}-cache-{repository_id}"


def cache_sources(client, repository_id):
    """`cachefrom` for a build of the repository: its own cache tags only."""
    name = cache_repository(repository_id)
    tags = [t for image in client.images.list(name=name) for t in image.tags]
    return tags or [f"{name}:none"]


def keep_as_cache(client, job, tag, key):
    if job.from_fork:
        return
    try:
        client.api.tag(tag, cache_repository(job.repository_id), tag=f"step-{key}")
    except derrors.APIError as e:
        log.warning("job %s: could not keep its image as cache: %s", job.pk, short_error(e))


def prune_build_images(client, older_than_hours):
    """Remove the images `build:` steps of this installation made that no
    build used for the given hours: a repository's cache tags (re-tagged by
    every build that uses them) first, then the images left dangling, with
    the layers nothing else uses. Returns how many image records Docker
    deleted."""
    mine = f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}"
    cutoff = time.time() - older_than_hours * 3600
    prefix = f"herald-{settings.HERALD_INSTANCE}-cache-"
    for image in client.images.list(filters={"label": mine}):
        for tag in image.tags:
            if tag.startswith(prefix) and _last_tagged(client, tag) <= cutoff:
                client.images.remove(tag, noprune=True)
    filters = {"dangling": True, "label": mine}
    if older_than_hours:
        filters["until"] = f"{older_than_hours}h"
    result = client.images.prune(filters=filters) or {}
    return len(result.get("ImagesDeleted") or [])


def _last_tagged(client, tag):
    stamp = (client.api.inspect_image(tag).get("Metadata") or {}).get("LastTagTime") or ""
    try:
        return datetime.datetime.fromisoformat(stamp[:19]).replace(tzinfo=datetime.UTC).timestamp()
    except ValueError:
        return 0.0
