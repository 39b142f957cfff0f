from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    # Hashed, compressed names once `collectstatic` has run (make run does);
    # without its manifest (a bare checkout, tests) plain names still work.
    manifest_strict = False
