# The one place Herald's version is written (pyproject.toml reads it).
__version__ = "0.7.0"
