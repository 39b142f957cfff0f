from ciproject import __version__


def version(request):
    """Herald's version, for the page footer."""
    return {"herald_version": __version__}
