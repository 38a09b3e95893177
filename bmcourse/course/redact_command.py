"""``bmcourse redact``: replace the named entities in text, one document per input line.

The input (files or stdin) is decoded as strict UTF-8 before anything is written; the course's
CoNLL-2003 tagger (or a saved one, ``--model``) finds the entities through :mod:`bmcourse.apps`;
without the real CoNLL-2003 the command refuses unless ``--demo-tagger`` asks for the demonstration
tagger, which it then names on stderr and in every ``--json`` object.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bmcourse.errors import BmcourseError

from .options import names

#: What ``bmcourse redact --demo-tagger`` says on stderr, and in each ``--json`` object.
DEMO_TAGGER = "demonstration (trained on the embedded sample; not for real redaction)"
DEMO_NOTICE = ("bmcourse: DEMONSTRATION TAGGER: trained on the embedded CoNLL-2003 sample (a few hundred "
               "sentences), it misses many names; this is not real redaction (set BMCOURSE_DATA_DIR for the "
               "real tagger)")


def read_documents(files: list[str]) -> list[str]:
    """Every input line (one document each), decoded as strict UTF-8 before anything is written.

    No file (or ``-``) reads stdin; a decoding error names the file, its line and byte offset."""
    from bmcourse.data.readers import decode_utf8, text_lines

    documents: list[str] = []
    for name in files or ["-"]:
        label = "<stdin>" if name == "-" else name
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as error:
            raise BmcourseError(f"cannot read it ({error.strerror or error})", file=label,
                                fix="name an existing UTF-8 text file, or pipe the text to stdin") from None
        documents += text_lines(decode_utf8(data, label, fix="convert it first, e.g. iconv -f latin1 -t utf-8 FILE",
                                            note="; nothing was written"))
    return documents


def demo_tagger(args: argparse.Namespace) -> bool:
    """Whether redaction uses the demonstration tagger: the course's tagger with only the embedded
    sample to train on. Without ``--demo-tagger`` that refuses, naming the variable and the data."""
    from bmcourse.bench import require_real_data, sample_only

    if args.model is not None:
        return False
    if not args.demo_tagger:
        require_real_data(("conll2003",), "redaction with the course's tagger", otherwise=(
            "or pass --model DIR, a tagger saved by `bmcourse bench ner --save-model DIR`; "
            "--demo-tagger redacts with a demonstration tagger trained on the sample (it misses names)"))
        return False
    return bool(sample_only(("conll2003",)))


def cmd_redact(args: argparse.Namespace) -> int:
    """Redact named entities line by line (stdin or files) with the course's NER tagger."""
    import contextlib
    import json

    from bmcourse import apps

    documents = read_documents(args.files)
    types = names(args.types, what="entity type") if args.types is not None else None
    demo = demo_tagger(args)
    if demo:
        print(DEMO_NOTICE, file=sys.stderr, flush=True)
    with contextlib.redirect_stdout(sys.stderr):  # loading notices must not mix with the output
        tagger = apps.load_tagger(args.model, progress=sys.stderr.isatty())
        tagger.progress = sys.stderr.isatty()
        results = apps.redact_many(documents, tagger, types=types, batch_size=args.batch_size)
    if args.json:
        marked = {"tagger": DEMO_TAGGER} if demo else {}
        lines = [json.dumps({**result.to_json(), **marked}, ensure_ascii=False) for result in results]
    else:
        lines = [result.text for result in results]
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
