"""The same path with Redis as django-q2's broker (HERALD_REDIS_URL), as a
scaled-out installation runs it."""

import os

import pytest
import redis

from tests.support import herald_yml

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@pytest.fixture
def redis_url():
    url = os.environ.get("HERALD_TEST_REDIS_URL")
    if not url:
        pytest.fail(
            "HERALD_TEST_REDIS_URL is not set: `make test` starts Redis (scripts/redis.sh start) and sets it",
            pytrace=False,
        )
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as e:
        pytest.fail(f"Redis at {url} does not answer ({e}); apt-get install redis-server", pytrace=False)
    return url


def test_a_push_builds_through_the_redis_broker(live_herald, git_repo, redis_url):
    herald = live_herald(HERALD_REDIS_URL=redis_url)
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml("echo via-redis")})
    herald.add_repo("acme/widgets", src.url)
    r = herald.push_github("acme/widgets", sha)
    assert r.status_code == 202, r.text
    job = herald.wait_job(r.json()["jobs"][0])
    assert job["status"] == "success"
    assert "via-redis" in herald.log_text(job["id"])
