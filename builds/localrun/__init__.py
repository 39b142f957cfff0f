"""Running a checkout's pipeline on this machine: `manage.py exec` and
`herald exec` (launcher: the throwaway installation; runner: the server's
Runner fed from the working tree; tree: the working tree; options: the
command line, checked against the pipeline)."""
