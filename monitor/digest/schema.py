"""The published JSON Schema of the digest, generated from the models in `model.py`.

    python -m monitor.digest.schema            print it
    python -m monitor.digest.schema --write    write the packaged copy (digest.schema.json) and
                                               the copy embedded in docs/digest.md
    python -m monitor.digest.schema --check    exit 1 if either copy differs from the models

Run `--write` after changing a JSON model (and bump SCHEMA_VERSION as docs/digest.md says);
tests/test_digest.py fails while a copy is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from monitor.digest.model import SCHEMA_FILE, json_schema_text

PACKAGED = Path(__file__).with_name(SCHEMA_FILE)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "digest.md"
_DOCS_BLOCK = re.compile(
    r"(<!-- schema:start -->\s*```json\n)(.*?)(```\s*<!-- schema:end -->)", re.S
)


def docs_schema(docs_text: str) -> str | None:
    """The schema embedded in the text of docs/digest.md, or None when it has no block."""
    found = _DOCS_BLOCK.search(docs_text)
    return found.group(2) if found else None


def main(argv: list[str] | None = None) -> int:
    """Print, write or check the schema copies; the exit code says whether they are current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="update the packaged and docs copy")
    action.add_argument("--check", action="store_true", help="fail if a copy is out of date")
    args = parser.parse_args(argv)
    text = json_schema_text()
    if not args.write and not args.check:
        sys.stdout.write(text)
        return 0
    stale = []
    if not PACKAGED.exists() or PACKAGED.read_text(encoding="utf-8") != text:
        stale.append(PACKAGED)
        if args.write:
            PACKAGED.write_text(text, encoding="utf-8")
    if DOCS.exists():  # a source checkout
        docs = DOCS.read_text(encoding="utf-8")
        if docs_schema(docs) != text:
            stale.append(DOCS)
            if args.write:
                updated = _DOCS_BLOCK.sub(lambda m: m.group(1) + text + m.group(3), docs)
                DOCS.write_text(updated, encoding="utf-8")
    for path in stale:
        print(f"{'updated' if args.write else 'out of date'}: {path}", file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
