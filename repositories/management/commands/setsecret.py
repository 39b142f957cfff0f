import sys

from django.core.management.base import BaseCommand, CommandError

from repositories.models import SECRET_NAME_RE, Repository, Secret


class Command(BaseCommand):
    help = "Set a repository secret; the value is read from standard input."

    def add_arguments(self, parser):
        parser.add_argument("full_name", help="owner/name")
        parser.add_argument("name", help="the variable name build steps see")
        parser.add_argument("--provider", help="when the same name exists on several forges")
        parser.add_argument("--allow-forks", action="store_true", help="pull requests from forks may read it")

    def handle(self, full_name, name, provider, allow_forks, **kw):
        if not SECRET_NAME_RE.match(name):
            raise CommandError("a secret name is letters, digits and _, not starting with a digit")
        qs = Repository.objects.filter(full_name__iexact=full_name)
        if provider:
            qs = qs.filter(provider=provider)
        repos = list(qs[:2])
        if not repos:
            raise CommandError(f"no repository {full_name!r}")
        if len(repos) > 1:
            raise CommandError(f"{full_name} exists on several forges; pass --provider")
        value = sys.stdin.read()
        if value.endswith("\n"):
            value = value[:-1]
        if not value:
            raise CommandError("no value on standard input")
        secret, created = Secret.objects.update_or_create(
            repository=repos[0], name=name, defaults={"value": value, "allow_forks": allow_forks}
        )
        self.stdout.write(f"{'Set' if created else 'Updated'} secret {name} on {repos[0].full_name}")
