"""Sweeps, their prompt sets, model map and scorings: the `sweeps`, `prompt_sets`,
`model_changes` and `scorings`/`verdicts` tables."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence

from .. import db, growth
from ..errors import SweepqError
from ..prompts import PromptSet, parse
from ..records import Sweep, sweep_from_row
from .database import Database


class Sweeps(Database):
    """The sweeps table and what hangs off a sweep."""

    def sweep(self, name: str) -> Sweep | None:
        with self._lock:
            return _load_sweep(self.conn, name)

    def sweep_models(self, name: str) -> dict[str, str] | None:
        """The sweep's model map as stored now (None: no such sweep, or not a JSON object)."""
        rows = self.rows("SELECT models FROM sweeps WHERE sweep = ?", (name,))
        try:
            models = json.loads(rows[0][0]) if rows else None
        except (TypeError, ValueError):
            return None
        return models if isinstance(models, dict) else None

    def sweep_names(self) -> list[str]:
        return [r["sweep"] for r in self.read("SELECT sweep FROM sweeps ORDER BY created_at")]

    def resolve_sweep(self, name: str | None) -> Sweep:
        """The named sweep, or the only one when no name is given."""
        if name is not None:
            found = self.sweep(name)
            if found is None:
                known = ", ".join(self.sweep_names()) or "none yet"
                raise SweepqError(f"no sweep named {name!r} (sweeps here: {known})")
            return found
        names = self.sweep_names()
        if len(names) == 1:
            return self.sweep(names[0])  # type: ignore[return-value]
        if not names:
            raise SweepqError("the database has no sweeps yet: run `sweepq enqueue` first")
        raise SweepqError(f"the database has {len(names)} sweeps ({', '.join(names)}): "
                          "pass `sweep` NAME")

    def create_sweep(self, conn: sqlite3.Connection, sweep: Sweep) -> bool:
        """Insert the sweep inside the caller's transaction; False if it already exists.

        An existing sweep with other settings is a mistake, not a resume, unless `sweep`
        grows it (`growth.grows`: more arms, subtasks or n): its row is then updated and
        its new prompt sets stored.
        """
        existing = _load_sweep(conn, sweep.name)
        if existing is not None:
            if growth.grows(existing, sweep):
                # start, dataset and options change only for an imported sweep a first
                # enqueue continues (`growth`); otherwise they are the stored ones
                conn.execute("UPDATE sweeps SET subtasks = ?, n_per_subtask = ?, arms = ?,"
                             " models = ?, start = ?, dataset = ?, benchmark_options = ?"
                             " WHERE sweep = ?",
                             (json.dumps(sweep.subtasks), sweep.n_per_subtask,
                              json.dumps(sweep.arms), json.dumps(sweep.models), sweep.start,
                              sweep.dataset, json.dumps(sweep.options), sweep.name))
                self._insert_prompt_sets(conn, sweep, skip=existing.prompts)
            return False
        conn.execute(
            "INSERT INTO sweeps (sweep, benchmark, subtasks, n_per_subtask, start, arms, models,"
            " dataset, has_meta, scorer, benchmark_options, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sweep.name, sweep.benchmark, json.dumps(sweep.subtasks), sweep.n_per_subtask,
             sweep.start, json.dumps(sweep.arms), json.dumps(sweep.models), sweep.dataset,
             int(sweep.has_meta), sweep.scorer, json.dumps(sweep.options), self.clock()))
        self._insert_prompt_sets(conn, sweep)
        return True

    def _insert_prompt_sets(self, conn: sqlite3.Connection, sweep: Sweep,
                            skip: Iterable[str] = ()) -> None:
        conn.executemany(
            "INSERT INTO prompt_sets (sweep, name, text, sha256, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(sweep.name, set_name, ps.text, ps.sha256, self.clock())
             for set_name, ps in sorted(sweep.prompts.items()) if set_name not in set(skip)])

    # -- scorings -----------------------------------------------------------

    def store_scoring(self, sweep: str, scorer: str,
                      verdicts: Sequence[tuple[int, bool, str]], no_reply: int) -> None:
        """A scoring of the sweep's stored replies by `scorer`, written whole in one
        transaction (a rescore stopped halfway leaves the previous one): it replaces an
        earlier scoring by the same scorer; the sweep's own verdicts (`results`) stay."""
        with self.write() as conn:
            conn.execute("DELETE FROM verdicts WHERE scorer = ? AND job_id IN"
                         " (SELECT job_id FROM jobs WHERE sweep = ?)", (scorer, sweep))
            conn.execute("INSERT OR REPLACE INTO scorings (sweep, scorer, results, no_reply,"
                         " created_at) VALUES (?, ?, ?, ?, ?)",
                         (sweep, scorer, len(verdicts), no_reply, self.clock()))
            conn.executemany("INSERT INTO verdicts (job_id, scorer, passed, detail)"
                             " VALUES (?, ?, ?, ?)",
                             ((job_id, scorer, int(passed), detail)
                              for job_id, passed, detail in verdicts))

    def set_models(self, sweep: str, changes: dict[str, str], force: bool = False,
                   arms_calling: Callable[[str], Sequence[str] | None] | None = None
                   ) -> dict[str, str]:
        """Change aliases of a sweep's model map, recorded in `model_changes`.

        Refused (nothing changed), unless `force`, when an arm would mix two models:
        results already came from a model being replaced, or a job of an arm that calls
        the alias (`arms_calling(alias)`; None: any arm may) is running (a worker is
        calling the old model now) or done. Returns the new map.
        """
        now = self.clock()
        with self.write() as conn:
            row = conn.execute("SELECT models FROM sweeps WHERE sweep = ?", (sweep,)).fetchone()
            if row is None:
                raise SweepqError(f"no sweep named {sweep!r}: see `sweepq status`")
            models = json.loads(row[0])
            for alias, new in changes.items():
                old = models.get(alias)
                if old == new:
                    continue
                used = old is not None and _has_results_from(conn, sweep, old)
                if used and not force:
                    raise SweepqError(f"sweep {sweep!r} already has results from {old} "
                                      f"({alias}): a new id would mix two models in one arm; "
                                      "pass `force` to change it anyway")
                busy = _arm_jobs_under_way(conn, sweep, None if arms_calling is None
                                           else arms_calling(alias))
                if busy and not force:
                    raise SweepqError(f"sweep {sweep!r} has {busy}, calling {alias}: a new id "
                                      "would mix two models in one arm; wait until no job of "
                                      "those arms runs (or has results), or pass `force`")
                used = used or bool(busy)
                conn.execute("INSERT INTO model_changes (sweep, alias, old_model, new_model,"
                             " forced, changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (sweep, alias, old, new, int(used), now))
                models[alias] = new
            # What each arm needs was learned from the old map.
            conn.execute("DELETE FROM arm_scopes WHERE sweep = ?", (sweep,))
            conn.execute("UPDATE sweeps SET models = ? WHERE sweep = ?",
                         (json.dumps(models), sweep))
        return models


def _arm_jobs_under_way(conn: sqlite3.Connection, sweep: str, arms: Sequence[str] | None
                        ) -> str:
    """What of the arms' jobs is under way ("3 running and 5 done jobs of echo-judge"),
    or "" when none runs or is done (`arms` None: every arm of the sweep)."""
    marks = "" if arms is None else f" AND arm IN ({', '.join('?' * len(arms))})"
    rows = conn.execute("SELECT arm, sum(state = 'running'), sum(state = 'done') FROM jobs"
                        f" WHERE sweep = ? AND state IN ('running', 'done'){marks}"
                        " GROUP BY arm ORDER BY arm", (sweep, *(arms or ()))).fetchall()
    if not rows:
        return ""
    running, done = sum(r[1] for r in rows), sum(r[2] for r in rows)
    return (f"{running} running and {done} done jobs of arm "
            f"{', '.join(r[0] for r in rows)}")


def _has_results_from(conn: sqlite3.Connection, sweep: str, model: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM results AS r JOIN jobs AS j USING (job_id), json_each(r.models) AS m"
        " WHERE j.sweep = ? AND r.models IS NOT NULL AND m.value = ? LIMIT 1",
        (sweep, model)).fetchone() is not None


def _load_sweep(conn: sqlite3.Connection, name: str) -> Sweep | None:
    """The sweep and its stored prompt sets, read on `conn` (inside the caller's transaction)."""
    cursor = conn.execute("SELECT * FROM sweeps WHERE sweep = ?", (name,))
    row = cursor.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cursor.description]
    return sweep_from_row(dict(zip(names, row, strict=True)), _load_prompts(conn, name))


def _load_prompts(conn: sqlite3.Connection, sweep: str) -> dict[str, PromptSet]:
    """The sweep's stored sets, parsed again; none in a database older than prompt sets.

    A read-only database is never migrated, so its table may not exist yet.
    """
    if not db.has_table(conn, "prompt_sets"):
        return {}
    rows = conn.execute("SELECT name, text FROM prompt_sets WHERE sweep = ? ORDER BY name",
                        (sweep,)).fetchall()
    return {name: parse(text, f"{name!r} stored in sweep {sweep!r}") for name, text in rows}
