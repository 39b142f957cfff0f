"""The GitLab client's reading of GitLab's numeric access levels (the rest of
the client is exercised end to end in test_end_to_end.py)."""

from forges.gitlab.client import permission_of as gitlab_permission


def test_gitlab_access_levels_become_permissions():
    assert gitlab_permission({"permissions": {"project_access": {"access_level": 40}}}) == "admin"
    assert gitlab_permission({"permissions": {"project_access": None, "group_access": {"access_level": 50}}}) == "admin"
    assert gitlab_permission({"permissions": {"project_access": {"access_level": 30}}}) == "push"
    assert gitlab_permission({"permissions": {"project_access": {"access_level": 20}}}) == "pull"
    assert gitlab_permission({"permissions": {}, "visibility": "private"}) is None
