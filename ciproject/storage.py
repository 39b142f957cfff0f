from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed names once `collectstatic` has run (make run does).

    A checkout where it hasn't (tests, a developer's first start) serves the
    plain names through whitenoise's finders instead of failing.
    """

    manifest_strict = False

    def hashed_name(self, name, content=None, filename=None):
        try:
            return super().hashed_name(name, content, filename)
        except ValueError:
            if content is not None:
                raise
            return name
