"""Sign-in with a forge through django-allauth.

allauth owns the OAuth flow (authorize redirect, `state` check, code
exchange). Each forge's provider, in forges/<id>/oauth/, only points
allauth's at the base URLs in Herald's settings; this package decides which
forges are offered (forges.configured(): those with a client id), who may
sign in (gate.py), and keeps the resulting token encrypted (ForgeAccount)."""
