"""Light imports: ``import bmcourse`` and every ``--help`` of the command load neither torch nor transformers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers")


def _run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON object as its last line."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_bmcourse_loads_neither_torch_nor_transformers() -> None:
    result = _run(f"""
        import json, sys
        import bmcourse
        names = (bmcourse.BmcourseError, bmcourse.Settings, bmcourse.by_profile, bmcourse.device,
                 bmcourse.headline, bmcourse.profile, bmcourse.setup, bmcourse.__version__)
        print(json.dumps({{"heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """)
    assert result["heavy"] == []


def test_submodules_are_attributes_on_first_use() -> None:
    result = _run("""
        import json, sys
        import bmcourse
        light = "bmcourse.data" not in sys.modules
        registry = sorted(bmcourse.data.REGISTRY)[:1]
        try:
            bmcourse.no_such_module
            missing = "no error"
        except AttributeError as error:
            missing = str(error)
        print(json.dumps({"light": light, "registry": registry, "missing": missing,
                          "torch": "torch" in sys.modules}))
    """)
    assert result["registry"] and result["light"] and not result["torch"]
    assert "no attribute 'no_such_module'" in result["missing"]


def test_every_help_loads_neither_torch_nor_transformers() -> None:
    """``bmcourse --help`` and each subcommand's (and each benchmark's) ``--help``, in a fresh process."""
    result = _run(f"""
        import argparse, contextlib, io, json, sys
        from bmcourse.course import cli

        def commands(parser, prefix):
            yield prefix
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, sub in action.choices.items():
                        yield from commands(sub, [*prefix, name])

        seen, heavy = [], {{}}
        for argv in commands(cli.build_parser(), []):
            with contextlib.redirect_stdout(io.StringIO()) as out:
                try:
                    status = cli.main([*argv, "--help"])
                except SystemExit as stop:
                    status = stop.code
            assert status == 0 and "usage: bmcourse" in out.getvalue(), (argv, status)
            seen.append(" ".join(argv))
            loaded = [m for m in {HEAVY!r} if m in sys.modules]
            if loaded:
                heavy[" ".join(argv)] = loaded
                break
        print(json.dumps({{"seen": seen, "heavy": heavy}}))
    """)
    assert result["heavy"] == {}
    assert {"", "run", "redact", "bench ner", "bench inference", "reference refresh"} <= set(result["seen"])
