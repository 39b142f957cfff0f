from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import forges
from forges.git.hook import SOMEWHERE, install_commands
from repositories.models import Repository, generate_webhook_secret


class Command(BaseCommand):
    help = "Create or update a repository; prints its webhook URL and secret."

    def add_arguments(self, parser):
        parser.add_argument("full_name", help="owner/name")
        parser.add_argument("--clone-url", help="where the workers clone from (default: the forge's https URL)")
        parser.add_argument("--provider", default="github", choices=[forge.id for forge in forges.every()])
        parser.add_argument("--secret", help="webhook secret to use (generated when omitted)")
        parser.add_argument("--default-branch")
        parser.add_argument("--public", action="store_true", help="show it to everyone who may see public repositories")
        parser.add_argument("--private", action="store_true")
        parser.add_argument("--timeout", type=int, help="build timeout in minutes")

    def handle(self, full_name, clone_url, provider, secret, default_branch, public, private, timeout, **kw):
        if public and private:
            raise CommandError("--public and --private exclude each other")
        with transaction.atomic():
            repo = Repository.objects.by_name(provider, full_name).first()
            created = repo is None
            if created:
                repo = Repository(provider=provider, full_name=full_name)
            # The admin's add form fills it in the same way (admin_forms.py).
            repo.clone_url = clone_url or repo.clone_url or repo.suggested_clone_url()
            if not repo.clone_url:
                raise CommandError(f"give --clone-url: Herald cannot tell where {full_name} is cloned from")
            if default_branch:
                repo.default_branch = default_branch
            if public or private:
                repo.private = private
            if timeout:
                repo.build_timeout = timeout
            if secret:
                repo.webhook_secret = secret
            elif created:
                repo.webhook_secret = generate_webhook_secret()
            repo.active = True
            try:
                repo.full_clean(exclude=["webhook_secret"])
            except ValidationError as e:
                raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in e.message_dict.items())) from None
            repo.save()
        self.stdout.write(f"{'Created' if created else 'Updated'} {repo.full_name} ({repo.provider})")
        self.stdout.write(f"Webhook URL:    {repo.webhook_url()}")
        self.stdout.write("Content type:   application/json")
        self.stdout.write(f"Webhook secret: {repo.webhook_secret}")
        if repo.provider == "git":
            self.print_hook_install(repo)

    def print_hook_install(self, repo):
        commands = install_commands(repo.clone_url, repo.webhook_url(), repo.full_name, repo.webhook_secret)
        where = "" if SOMEWHERE not in commands[0] else f" (replace {SOMEWHERE} with its path)"
        self.stdout.write(
            "\nInstall the hook in the bare repository, on the machine that receives the pushes"
            f"{where}; it needs sh, git, openssl and curl there:\n"
        )
        for line in commands:
            self.stdout.write(f"    {line}")
        self.stdout.write("\nThen every push to it posts each updated branch and tag to the webhook URL.")
