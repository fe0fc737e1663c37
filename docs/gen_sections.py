"""Write the generated sections of docs/: what the code holds, never retyped by hand.

- `docs/prompt-sets.md`, section `default-set`: the shipped default prompt set, exactly as
  `sweepq prompts init` writes it (`sweepq/prompt_sets/default.toml`).
- `docs/schema.md`, section `schema`: every table and view of a freshly migrated
  database, as SQLite stores their definitions (what `.schema` prints in `sqlite3`).

A section sits between `<!-- BEGIN GENERATED NAME -->` and `<!-- END GENERATED NAME -->`;
the text around it is written by hand. Run `make docs` after changing the default set or
adding a migration; tests/unit/test_docs.py fails when a section is stale.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def default_set() -> str:
    """The default prompt set as a TOML block."""
    from sweepq.prompts import default_set as shipped

    return f"```toml\n{shipped().text}```\n"


def schema() -> str:
    """Each table and view of a fresh database, in creation order, as one SQL block each."""
    from sweepq import db

    with tempfile.TemporaryDirectory() as folder:
        conn = db.connect(Path(folder) / "fresh.db")
        try:
            rows = conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view')"
                " AND name NOT LIKE 'sqlite_%' ORDER BY rowid").fetchall()
        finally:
            conn.close()
    return "".join(f"\n### {kind} `{name}`\n\n```sql\n{_tidy(sql)};\n```\n"
                   for kind, name, sql in rows)


def _tidy(sql: str) -> str:
    """The stored definition with trailing blanks dropped (ALTER TABLE appends columns
    on the closing line as written, which is kept)."""
    return "\n".join(line.rstrip() for line in sql.strip().splitlines())


SECTIONS: dict[str, tuple[Path, Callable[[], str]]] = {
    "default-set": (HERE / "prompt-sets.md", default_set),
    "schema": (HERE / "schema.md", schema),
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN GENERATED {name} -->\n)(.*?)(<!-- END GENERATED {name} -->)",
                      re.S)


def rendered(name: str) -> str:
    """The page holding section `name`, with the section as the code makes it now."""
    path, make = SECTIONS[name]
    text = path.read_text()
    match = _pattern(name).search(text)
    if match is None:
        raise SystemExit(f"{path.name}: no section {name} (its BEGIN/END markers are missing)")
    return text[:match.start(2)] + make() + text[match.end(2):]


def stale() -> list[str]:
    """The sections whose page differs from what the code makes now."""
    return [name for name, (path, _) in SECTIONS.items() if path.read_text() != rendered(name)]


if __name__ == "__main__":
    for name, (path, _) in SECTIONS.items():
        path.write_text(rendered(name))
        sys.stdout.write(f"wrote {path.relative_to(HERE.parent)} ({name})\n")
