"""The maintainer side of the course: the ``bmcourse`` command and the tools behind it.

Nothing a learner imports at runtime loads this package. It holds the command line (``cli``: the
parser, the exit codes; ``commands``, ``redact_command``, ``bench_commands``, ``refresh``: what each
sub-command does), the notebook tools (``nbtools``: execute, normalise, sync; ``student``: the
student copies), the Binder environment (``binder``) and the Colab/Binder links (``links``), which
read ``pyproject.toml`` through ``pyproject``.
"""
