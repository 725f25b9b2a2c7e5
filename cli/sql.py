"""`pulse sql`: one read-only query of the store (pulse.sandbox), printed or written as CSV.

Every run, refused ones included, is recorded in the audit log with the first 200
characters of its SQL: whoever runs it on the server may read every row of the store.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.main import USAGE_ERROR, Failure, _audit_trail, _by, _check_writable, _settings, _store, _write, main, user_errors
from pulse.sandbox import DEFAULT_LIMIT

AUDIT_SQL_CHARS = 200


@main.command("sql")
@click.argument("query", metavar="SQL")
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              help="Write the whole result to this CSV file, with no row or time limit.")
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True, type=click.IntRange(1),
              help="Rows to print without --out.")
@_by
def sql(query: str, out_path: Path | None, limit: int, actor: str) -> None:
    """Run one read-only query (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN) on the
    store and print the result as CSV (recorded in the audit log)."""
    from pulse.export import to_csv
    from pulse.sandbox import NotOneStatementError, SandboxError, check, run_sql, stream_sql

    try:
        check(query)
    except NotOneStatementError as exc:
        raise Failure(str(exc), USAGE_ERROR) from None
    except SandboxError:
        pass  # refused below, once it is recorded
    if out_path:
        _check_writable(out_path)
    with user_errors():
        store = _store()
        store.require()
    record = _audit_trail(actor)
    shown = query.strip()[:AUDIT_SQL_CHARS]
    where = str(out_path) if out_path else "stdout"

    def written(path: Path) -> int:
        """Stream the result to `path`, then record it: no file is published without its record."""
        with open(path, "wb") as fh:
            rows = stream_sql(store, query, fh)
        record("sql.run", f"{shown} ({rows:,} rows to {where})")
        return rows

    try:
        with user_errors():
            if out_path:
                rows = _write(out_path, written)
            else:
                frame, cut = run_sql(store, query, limit, seconds=_settings().query_seconds)
                record("sql.run", f"{shown} ({frame.height:,} rows to {where}{', cut' if cut else ''})")
    except Failure as exc:
        record("sql.run", f"{shown} (refused: {exc.message})")
        raise
    if out_path:
        click.echo(f"Wrote {rows:,} rows to {out_path}.", err=True)
        return
    sys.stdout.write(to_csv(frame))
    if cut:
        click.echo(f"The result has more than {limit:,} row{'' if limit == 1 else 's'}: raise --limit, or write them all "
                   "with --out FILE.", err=True)
