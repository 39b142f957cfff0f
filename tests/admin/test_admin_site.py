"""Herald's admin as an operator meets it: its name and groups, adding a
repository as addrepo does (the secret shown once), the way to Herald's
pages and back, the lists' filters, and the job list's cost."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from builds.models import Job
from repositories.models import Repository, Secret
from webhooks.models import Delivery

ADD = "/admin/repositories/repository/add/"


@pytest.fixture
def staff_client(client, db):
    # No password: hashing one costs more than the test.
    client.force_login(User.objects.create(username="admin", is_staff=True, is_superuser=True))
    return client


def new_repository(client, **fields):
    data = {"provider": "github", "full_name": "acme/widgets", "clone_url": "", "default_branch": "main"}
    data.update({"build_timeout": 60, "private": "on", **fields})  # as the form comes, private ticked
    return client.post(ADD, data)


def test_it_is_herald_with_its_models_grouped_and_the_internals_folded(staff_client):
    page = staff_client.get("/admin/").content.decode()
    assert "<title>Administration | Herald CI admin</title>" in page
    assert "Django administration" not in page
    assert re.search(r'href="/" id="back-to-herald"', page)
    assert re.search(r'href="/static/herald/admin\.css"', page)
    groups = re.findall(r'data-group="([^"]+)"', page)
    assert groups == [
        "Repositories and their secrets",
        "Builds",
        "Deliveries",
        "Accounts and tokens",
        "Queue internals",
    ]
    # Internals (django-q2's tasks, log chunks) last, in a closed <details>.
    internals = page[page.index('<details class="herald-internals"') :]
    assert internals.startswith('<details class="herald-internals" id="group-queue-internals"><summary>')
    assert "/admin/django_q/ormq/" in internals and "/admin/builds/logchunk/" in internals
    assert "/admin/repositories/repository/" not in internals
    builds = page[page.index('data-group="Builds"') : page.index('data-group="Deliveries"')]
    assert "/admin/builds/job/" in builds and "/admin/repositories/secret/" not in builds
    # Every registered model is still reachable from the index, and its list
    # opens (filters and all).
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert f'href="{url}"' in page, model
        assert staff_client.get(url).status_code == 200, url


def test_adding_a_repository_is_addrepo_in_a_form_and_shows_the_secret_once(staff_client):
    form = staff_client.get(ADD).content.decode()
    assert "As <code>manage.py addrepo</code>: the forge and <code>owner/name</code> are enough" in form
    asked = re.findall(r' name="([a-z_]+)"', form.split('id="repository_form"')[1].split("</form>")[0])
    assert set(asked) - {"csrfmiddlewaretoken", "_save", "_addanother", "_continue"} == {
        "provider",
        "full_name",
        "clone_url",
        "default_branch",
        "private",
        "build_timeout",
    }

    # Checked as addrepo checks: the name's shape, the clone URL, the timeout.
    for fields, error in (
        ({"full_name": "widgets"}, "Use &quot;owner/name&quot;."),
        ({"clone_url": "ext::sh%20-c%20evil"}, "Remote-helper URLs"),
        ({"build_timeout": 0}, "Between 1 and"),
    ):
        bad = new_repository(staff_client, **fields)
        assert bad.status_code == 200 and error in bad.content.decode(), fields
    assert not Repository.objects.exists()

    r = new_repository(staff_client)
    repo = Repository.objects.get()
    assert repo.clone_url == "https://github.com/acme/widgets.git"  # from the forge, as addrepo
    assert repo.active and repo.private
    page = r.content.decode()
    assert r.status_code == 200 and "no-store" in r["Cache-Control"]
    assert f'<code class="secret" id="webhook-secret">{repo.webhook_secret}</code>' in page
    assert "Settings → Webhooks → Add webhook" in page
    assert f'<code class="webhook-url">{repo.webhook_url()}</code>' in page
    assert "<dt>Content type</dt><dd><code>application/json</code></dd>" in page
    assert "Just the push event, plus Pull requests" in page
    assert f'href="{repo.get_absolute_url()}" id="view-on-site"' in page

    # Never again: not on the change page, the list, nor Herald's own page.
    change = staff_client.get(f"/admin/repositories/repository/{repo.pk}/change/").content.decode()
    assert "set (shown once" in change
    for url in (f"/admin/repositories/repository/{repo.pk}/change/", "/admin/repositories/repository/"):
        assert repo.webhook_secret not in staff_client.get(url).content.decode()
    assert repo.webhook_secret not in staff_client.get(repo.get_absolute_url()).content.decode()

    again = new_repository(staff_client, full_name="ACME/Widgets")
    assert "Herald already has GitHub&#x27;s ACME/Widgets: change that one instead." in again.content.decode()
    assert Repository.objects.count() == 1


def test_a_forge_without_an_address_needs_the_clone_url_and_plain_git_gets_the_hook_commands(staff_client, settings):
    settings.HERALD_GITEA_URL = ""
    r = new_repository(staff_client, provider="gitea")
    assert (
        "Give the clone URL: Herald cannot tell where Gitea / Forgejo is (HERALD_GITEA_URL is not set)."
        in r.content.decode()
    )

    r = new_repository(staff_client, provider="git", full_name="acme/tools", clone_url="/srv/git/tools.git")
    repo = Repository.objects.get(full_name="acme/tools")
    page = r.content.decode()
    assert f"git -C /srv/git/tools.git config herald.secret {repo.webhook_secret}" in page
    assert "<dt>git config herald.secret</dt>" in page


def test_regenerating_a_secret_shows_the_new_one_with_the_instructions(staff_client, client, make_repository):
    repo = make_repository(provider="gitlab")
    # Not for staff who may only look at repositories.
    viewer = User.objects.create(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_repository"))
    client.force_login(viewer)
    r = client.post("/admin/repositories/repository/", {"action": "regenerate_secret", "_selected_action": [repo.pk]})
    assert "s3cret" == Repository.objects.get().webhook_secret and r.status_code == 200
    # Nor cancelling jobs on a view-only right (the actions are offered to whoever may change).
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    page = client.get("/admin/builds/job/").content.decode()
    assert page.count('<option value="') == 0 and "Cancel selected jobs" not in page
    client.force_login(User.objects.get(username="admin"))
    r = staff_client.post(
        "/admin/repositories/repository/",
        {"action": "regenerate_secret", "_selected_action": [repo.pk]},
    )
    repo.refresh_from_db()
    assert repo.webhook_secret != "s3cret"
    page = r.content.decode()
    assert f'id="webhook-secret">{repo.webhook_secret}<' in page and "Secret token" in page


def test_view_on_site_and_edit_in_admin_go_both_ways(staff_client, client, make_repository, make_job):
    repo = make_repository(provider="gitea", full_name="acme/site")
    job = make_job(repo, status="failed")
    delivery = Delivery.objects.create(provider="gitea", outcome="accepted", repository=repo, status_code=202)
    stray = Delivery.objects.create(provider="gitea", outcome="rejected", repository_name="who/knows", status_code=404)

    def view_on_site(admin_url):
        page = staff_client.get(admin_url).content.decode()
        href = re.search(r'<a href="([^"]+)" class="viewsitelink">', page)
        if href is None:
            return None
        r = staff_client.get(href.group(1))
        return r["Location"] if r.status_code == 302 else href.group(1).replace("&amp;", "&")

    change_repo = reverse("admin:repositories_repository_change", args=[repo.pk])
    change_job = reverse("admin:builds_job_change", args=[job.pk])
    assert view_on_site(change_repo) == "http://testserver/repos/acme/site/?provider=gitea"
    assert view_on_site(change_job) == f"http://testserver/jobs/{job.pk}/"
    deliveries = f"/repos/acme/site/deliveries/?provider=gitea&delivery={delivery.pk}"
    assert view_on_site(reverse("admin:webhooks_delivery_change", args=[delivery.pk])) == deliveries
    assert view_on_site(reverse("admin:webhooks_delivery_change", args=[stray.pk])) is None

    for page, admin_url in (
        ("/repos/acme/site/?provider=gitea", change_repo),
        (f"/jobs/{job.pk}/", change_job),
        (deliveries, f"/admin/webhooks/delivery/?repository__id__exact={repo.pk}"),
    ):
        back = re.search(r'<a href="([^"]+)" id="edit-in-admin"', staff_client.get(page).content.decode())
        assert back and back.group(1).replace("&amp;", "&") == admin_url
        assert staff_client.get(admin_url).status_code == 200
    # Not for people without the admin.
    owner = User.objects.create(username="owner")
    repo.memberships.create(user=owner, permission="admin")
    client.force_login(owner)
    assert 'id="edit-in-admin"' not in client.get("/repos/acme/site/").content.decode()


def test_the_lists_filter_and_search_as_an_operator_asks(staff_client, make_repository, make_job):
    hub = make_repository(full_name="acme/hub")
    tea = make_repository(full_name="acme/tea", provider="gitea")
    make_job(hub, status="success", message="all good")
    make_job(hub, status="failed", message="broke the parser")
    make_job(tea, status="failed", message="gitea build")
    Secret.objects.create(repository=hub, name="DEPLOY_KEY", value="hunter2-value")

    def rows(url):
        page = staff_client.get(url).content.decode()
        assert "hunter2-value" not in page
        return re.findall(r'<th class="field-__str__"><a href="[^"]+">([^<]+)</a>', page) or re.findall(
            r'<th class="field-name"><a href="[^"]+">([^<]+)</a>', page
        )

    jobs = "/admin/builds/job/"
    assert sorted(rows(jobs + "?status__exact=failed")) == ["acme/hub#2", "acme/tea#1"]
    assert rows(jobs + "?repository__provider__exact=gitea") == ["acme/tea#1"]
    assert rows(jobs + f"?repository__id__exact={hub.pk}&status__exact=failed") == ["acme/hub#2"]
    assert rows(jobs + "?q=parser") == ["acme/hub#2"]
    Job.objects.filter(message="all good").update(created_at=timezone.now() - timedelta(days=30))
    page = staff_client.get(jobs).content.decode()
    past_week = re.search(r'<a href="(\?created_at__gte=[^"]+)">Past 7 days</a>', page).group(1).replace("&amp;", "&")
    assert sorted(rows(jobs + past_week)) == ["acme/hub#2", "acme/tea#1"]
    assert '<span class="herald-status status-failed">failed</span>' in page
    assert f'<td class="field-page"><a href="/jobs/{Job.objects.get(message="gitea build").pk}/">open</a></td>' in page
    assert "By repository" in page and "By status" in page
    assert rows("/admin/repositories/secret/?q=deploy") == ["DEPLOY_KEY"]


def test_the_job_list_costs_the_same_queries_for_3_jobs_or_300(
    staff_client, make_repository, django_assert_max_num_queries
):
    repos = [make_repository(full_name=f"acme/r{i}") for i in range(6)]
    Job.objects.bulk_create(
        Job(repository=repos[n % 6], number=n + 1, commit=f"{n:040x}", branch="main", status="success")
        for n in range(3)
    )
    with django_assert_max_num_queries(8) as few:
        staff_client.get("/admin/builds/job/")
    Job.objects.bulk_create(
        Job(repository=repos[n % 6], number=n + 1, commit=f"{n:040x}", branch=f"b{n}", status="failed")
        for n in range(3, 300)
    )
    with django_assert_max_num_queries(len(few)) as many:
        r = staff_client.get("/admin/builds/job/")
    assert r.content.decode().count('<th class="field-__str__">') == 100  # a page of them
    # No whole-table COUNT beside the page's own (show_full_result_count).
    counts = [q["sql"] for q in many.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1, counts


def test_addrepo_takes_the_clone_url_from_the_forge_as_the_admin_does(db, settings):
    settings.HERALD_GITEA_URL = ""
    call_command("addrepo", "acme/cli", "--provider", "gitlab", stdout=io.StringIO())
    assert Repository.objects.get().clone_url == "https://gitlab.com/acme/cli.git"
    with pytest.raises(CommandError, match="give --clone-url: Herald cannot tell where acme/tea is cloned from"):
        call_command("addrepo", "acme/tea", "--provider", "gitea")


def test_an_api_token_made_in_the_admin_is_shown_once_and_works(staff_client, client):
    r = staff_client.post("/admin/repositories/apitoken/add/", {"user": User.objects.get().pk, "name": "deploy"})
    token = re.search(r'<code class="secret" id="api-token">([^<]+)</code>', r.content.decode()).group(1)
    assert "Copy the token now" in r.content.decode()
    assert token not in staff_client.get("/admin/repositories/apitoken/").content.decode()
    assert token not in str(dict(staff_client.session))
    client.logout()
    assert client.get("/api/repos/acme/none/jobs/", headers={"authorization": f"Bearer {token}"}).status_code == 404
    assert client.get("/api/repos/acme/none/jobs/", headers={"authorization": "Bearer nope"}).status_code == 401
