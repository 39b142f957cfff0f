"""What the schedules' tests share: acme/widgets on a real git repository
whose pipeline declares parameters, and people with each right."""

import pytest
from django.contrib.auth import get_user_model

from repositories.models import ApiToken, Membership
from tests.support import TEST_IMAGE

PIPELINE = f"""\
image: {TEST_IMAGE}
parameters:
  - name: TARGET
    type: choice
    choices: [staging, production]
  - name: DRY_RUN
    type: boolean
    default: true
steps:
  - name: show
    commands:
      - 'echo "target=$TARGET dry=$DRY_RUN event=$HERALD_EVENT"'
"""


class Project:
    pass


@pytest.fixture
def project(git_repo, make_repository):
    """main with the pipeline, a branch `nightly` one commit ahead; ada may
    push, rita may read."""
    p = Project()
    p.src = git_repo()
    p.main = p.src.commit({".herald.yml": PIPELINE}, message="Add the pipeline")
    p.src.checkout("nightly", create=True)
    p.nightly = p.src.commit({"n.txt": "n"}, message="Nightly work")
    p.src.checkout("main")
    p.repo = make_repository("acme/widgets", clone_url=p.src.url)
    users = get_user_model().objects
    p.ada = users.create_user("ada", password="pw-ada")
    p.rita = users.create_user("rita", password="pw-rita")
    Membership.objects.create(user=p.ada, repository=p.repo, permission=Membership.PUSH)
    Membership.objects.create(user=p.rita, repository=p.repo, permission=Membership.PULL)
    p.token = ApiToken.issue(p.ada)
    return p
