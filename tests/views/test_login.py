"""The password sign-in form: django-axes locks out an address after too
many wrong passwords."""

from django.contrib.auth.models import User


def test_it_locks_out_after_too_many_wrong_passwords(client, db, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("alice", password="correct horse battery")
    for _ in range(2):
        r = client.post("/login/", {"username": "alice", "password": "wrong"})
        assert r.status_code == 200 and "correct username and password" in r.content.decode()
    r = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert r.status_code == 429
    page = r.content.decode()
    assert "Too many failed sign-ins" in page and "3 failed attempts" in page and "0:15:00" in page

    # The right password does not get through while locked out.
    r = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert r.status_code == 429
    assert client.get("/").wsgi_request.user.is_anonymous


def test_a_successful_sign_in_starts_the_count_again(client, db, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("alice", password="correct horse battery")
    for _ in range(2):
        client.post("/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/login/", {"username": "alice", "password": "correct horse battery"}).status_code == 302
    client.logout()
    for _ in range(2):
        assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
