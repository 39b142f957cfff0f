"""The README's "First build", as a newcomer follows it: a running Herald
(`manage.py serve`, what `make run` starts), the README's own shell blocks
run as written, the hook commands `addrepo` prints run as printed, a real
`git push` into a bare repository whose hook calls the server, and the job
ends `success`. No forge, no registry: the image is the one
scripts/busybox-image.sh makes, as the README says to use without one."""

import os
import re
import subprocess
import textwrap
import time

import pytest
import requests

from tests.support import GIT_ENV, ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def first_build_section():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## First build\n")
    end = re.compile(r"\n##+ ").search(readme, start + 1).start()  # up to "### With a forge"
    return readme[start:end]


def shell_blocks(section):
    """The ```sh blocks of a section, in order, without the list's indent."""
    return [textwrap.dedent(block) for block in re.findall(r"```sh\n(.*?)^\s*```", section, re.S | re.M)]


def sh(script, cwd, env):
    done = subprocess.run(["sh", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_the_readmes_first_build_goes_green_with_no_forge(live_herald, tmp_path, docker_client):
    herald = live_herald()
    section = first_build_section()
    setup, push = shell_blocks(section)
    assert "image: busybox:stable" in push and "herald-local/busybox" in section

    home = tmp_path / "home"
    home.mkdir()
    # The newcomer's shell: a home of their own, the server's settings.
    env = {**herald.env, **GIT_ENV, "HOME": str(home)}
    env.pop("HERALD_ALLOW_LOCAL_CLONES")  # the README says where to set it

    # No registry: the README's way out (the image it replaces, if any, goes).
    before = [image.id for image in docker_client.images.list("herald-local/busybox:latest")]
    image = sh("scripts/busybox-image.sh", ROOT, env).strip()
    assert image == "herald-local/busybox:latest"
    for old in set(before) - {docker_client.images.get(image).id}:
        docker_client.images.remove(old)

    out = sh(setup, ROOT, env)
    assert (home / "widgets.git" / "HEAD").exists()
    # The five install commands, run as printed.
    lines = out.split("Install the hook", 1)[1].splitlines()
    commands = [line.strip() for line in lines if line.startswith("    ")]
    assert len(commands) == 5 and commands[0].startswith(f"cp {ROOT}/forges/git/post-receive ")
    for command in commands:
        sh(command, home, env)
    assert os.access(home / "widgets.git" / "hooks" / "post-receive", os.X_OK)

    out = sh(push.replace("image: busybox:stable", "image: herald-local/busybox"), home, env)
    match = re.search(
        r'remote: herald: refs/heads/main: (\{"delivery": \d+, "outcome": "accepted", "jobs": \[(\d+)\]\})', out
    )
    assert match, out
    job_id = int(match.group(2))

    # The repository is private (addrepo's default): its admin reads the job.
    herald.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
    token = herald.manage("createtoken", "admin").strip().split()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    job = None
    for _ in range(900):
        job = requests.get(f"{herald.url}/api/jobs/{job_id}/", headers=auth, timeout=10).json()
        if job["status"] in ("success", "failed", "errored", "cancelled", "timed_out", "skipped"):
            break
        time.sleep(0.1)
    log = requests.get(f"{herald.url}/jobs/{job_id}/log.txt", headers=auth, timeout=30).text
    assert job["status"] == "success", (job, log)
    assert (job["event"], job["branch"], job["message"], job["author"]) == ("push", "main", "First build", "Ada Tester")
    assert "Hello from Herald" in log
    # No forge: the job page links to no commit page.
    page = requests.get(f"{herald.url}/jobs/{job_id}/", headers=auth, timeout=10)
    assert page.status_code == 200 and 'id="commit-link"' not in page.text
