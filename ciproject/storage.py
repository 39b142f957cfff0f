from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    # Hashed, compressed names once `collectstatic` has run (make run does);
    # without its manifest (a bare checkout, tests) plain names still work.
    manifest_strict = False

    def hashed_name(self, name, content=None, filename=None):
        try:
            return super().hashed_name(name, content, filename)
        except ValueError:
            # Django hashes a file missing from the manifest by reading it
            # from STATIC_ROOT, which does not exist before collectstatic;
            # whitenoise then serves the plain name from the app folders
            # (WHITENOISE_USE_FINDERS). While collecting, a missing file
            # is a real error.
            if content is not None or self.hashed_files:
                raise
            return name
