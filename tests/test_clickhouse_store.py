"""The ClickHouse store itself (pulse.clickhouse): its settings, its loads and what they
guarantee, Pulse's SQL on it, and the sentences for a server Pulse cannot use. The metrics'
answers on it are held by the metric suites, which run on both engines (conftest `engine`)."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import frame

from cli.main import main
from loaders.load import load_files
from pulse import sandbox
from pulse.clickhouse import ClickHouseStore, parse_address
from pulse.settings import load_settings
from pulse.store import Store, StoreError

ROOT = Path(__file__).resolve().parent.parent
EVENTS = "event_id,user_id,ts,event_type\ne1,u1,2024-01-01 10:00,login\ne2,u2,2024-01-01 11:00,login\ne3,u1,2024-02-03 10:00,page_view\n"


@pytest.fixture
def store(chdb_directory, request):
    chdb = ClickHouseStore.chdb(chdb_directory, "s_" + request.node.name.replace("[", "_").replace("]", "")[:60])
    chdb.drop()
    yield chdb
    chdb.drop()


def events_file(tmp_path: Path, text: str = EVENTS, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def databases(store: ClickHouseStore) -> list[str]:
    return store._databases()


# -- settings and addresses ---------------------------------------------------------------

def test_the_store_setting_takes_either_url(tmp_path):
    settings = load_settings(environ={"PULSE_STORE": f"chdb://{tmp_path}/ch", "PULSE_CONFIG": str(tmp_path / "no.toml")})
    assert settings.store == f"chdb://{tmp_path}/ch"
    assert settings.folder == tmp_path / "ch"
    store = Store.from_settings(settings)
    assert isinstance(store, ClickHouseStore) and store.address.directory == tmp_path / "ch"
    server = parse_address("clickhouse://ana:s%40cret@db.example.com:8443/analytics?secure=1")
    assert (server.user, server.password, server.host, server.port, server.database, server.secure) == (
        "ana", "s@cret", "db.example.com", 8443, "analytics", True)
    assert server.label == "clickhouse://ana@db.example.com:8443/analytics"  # never the password


@pytest.mark.parametrize("url, sentence", [
    ("clickhouse://ana:secret@db.example.com:8123", "The store setting clickhouse://ana:***@db.example.com:8123 is not a "
     "ClickHouse address: give clickhouse://USER:PASSWORD@HOST:PORT/DATABASE."),
    ("clickhouse://ana:secret@db.example.com:port/x", "The store setting clickhouse://ana:***@db.example.com:port/x has a "
     "port that is not a number."),
    ("clickhouse://ana:secret@db.example.com:8123/my-db", "The ClickHouse database 'my-db' in the store setting is not a "
     "plain name (letters, digits and underscores)."),
    ("chdb://", "The store setting chdb:// needs a directory, e.g. chdb://data/clickhouse."),
])
def test_a_wrong_address_is_one_sentence_without_the_password(url, sentence):
    with pytest.raises(StoreError) as caught:
        parse_address(url)
    assert str(caught.value) == sentence


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ClickHouseRefusing(http.server.BaseHTTPRequestHandler):
    """Answers every request as a ClickHouse server's HTTP interface refuses one: the code in
    the X-ClickHouse-Exception-Code header and the body (as a real server words them)."""

    code, text = 516, ""

    def _refuse(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = self.text.encode()
        self.send_response(401 if self.code == 516 else 404)
        self.send_header("X-ClickHouse-Exception-Code", str(self.code))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_server():
    def serve(code: int, text: str) -> int:
        handler = type("Handler", (_ClickHouseRefusing,), {"code": code, "text": text})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    servers: list = []
    yield serve
    for server in servers:
        server.shutdown()


def test_an_unreachable_server_wrong_password_and_missing_database_are_one_sentence_each(tmp_path, refusing_server):
    port = _closed_port()
    wrong = refusing_server(516, "Code: 516. DB::Exception: ana: Authentication failed: password is incorrect, "
                                 "or there is no user with such name. (AUTHENTICATION_FAILED) (version 25.8.1.1)\n")
    missing = refusing_server(81, "Code: 81. DB::Exception: Database analytics does not exist. (UNKNOWN_DATABASE)\n")
    cases = {
        port: f"Cannot reach the ClickHouse server at 127.0.0.1:{port}",
        wrong: f"The ClickHouse server at 127.0.0.1:{wrong} refused user ana: the user name or password in the store "
               "setting is wrong.",
        missing: f"The ClickHouse server at 127.0.0.1:{missing} has no database analytics: create it "
                 "(CREATE DATABASE analytics) or fix the store setting.",
    }
    for number, sentence in cases.items():
        env = {"PULSE_STORE": f"clickhouse://ana:hunter2@127.0.0.1:{number}/analytics",
               "PULSE_CONFIG": str(tmp_path / "none.toml")}
        result = CliRunner().invoke(main, ["export", "active_users", "--start", "2024-01-01", "--end", "2024-01-02"],
                                    env=env)
        assert result.exit_code != 0
        assert result.output.startswith(f"pulse: {sentence}") and len(result.output.strip().splitlines()) == 1, result.output
        assert "hunter2" not in result.output


# -- loads ------------------------------------------------------------------------------------

def test_a_load_is_kept_by_key_and_the_same_file_again_changes_nothing(store, tmp_path):
    first = load_files(store, "events", [events_file(tmp_path)])
    assert (first.reports["events"].stored, store.version()) == (3, "1")
    again = load_files(store, "events", [events_file(tmp_path)])
    assert (again.reports["events"].stored, again.reports["events"].duplicates, store.version()) == (0, 3, "1")
    assert databases(store) == [store._reading()]  # nothing published, nothing left behind


def test_a_new_version_reuses_the_untouched_months_and_keeps_the_one_before(store, tmp_path):
    load_files(store, "events", [events_file(tmp_path)])
    before = store._reading()
    load_files(store, "events", [events_file(tmp_path, "event_id,user_id,ts,event_type\ne4,u3,2024-02-05 09:00,login\n",
                                             "more.csv")])
    after = store._reading()
    assert store.info().rows["events"] == 4
    parts = store.engine.arrow(
        "SELECT database = '{0}' AS new, partition_id, sum(rows) AS rows, arraySort(groupArray(hash_of_all_files)) AS files "
        "FROM system.parts WHERE table = 'events' AND active AND database IN ('{0}', '{1}') GROUP BY 1, 2 ORDER BY 1, 2"
        .format(after, before), "system").to_pylist()
    assert [(p["new"], p["partition_id"], p["rows"]) for p in parts] == [
        (False, "202401", 2), (False, "202402", 1), (True, "202401", 2), (True, "202402", 2)]
    assert parts[0]["files"] == parts[2]["files"]  # January attached as it was, not rewritten
    assert sorted(databases(store)) == sorted([before, after])  # the previous version stays for running reads


def test_a_failed_load_leaves_what_readers_see(store, tmp_path):
    load_files(store, "events", [events_file(tmp_path)])
    version, reading = store.version(), store._reading()
    with pytest.raises(RuntimeError):
        with store.writer("broken") as writer:
            writer.stage("events", frame("events", [{"event_id": "x", "user_id": "u9", "ts": "2024-03-01 10:00",
                                                     "event_type": "login"}]))
            raise RuntimeError("the source broke off")
    assert (store.version(), store._reading(), store.info().rows["events"]) == (version, reading, 3)
    assert databases(store) == [reading]


def test_a_load_killed_midway_is_swept_by_the_next(store, tmp_path, chdb_directory):
    load_files(store, "events", [events_file(tmp_path)])
    reading = store._reading()
    store.engine._close_if_idle()  # let the other process have chDB
    import time
    time.sleep(store.engine.IDLE_SECONDS + 0.5)
    # Another process starts a load and dies before publishing: its database stays behind.
    script = (f"import os, sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]\n"
              "from pathlib import Path\nfrom conftest import frame\nfrom pulse.clickhouse import ClickHouseStore\n"
              f"s = ClickHouseStore.chdb(Path({str(chdb_directory)!r}), {store.database!r})\n"
              "with s.writer('killed') as w:\n"
              "    w.stage('events', frame('events', [{'event_id': 'k', 'user_id': 'u', 'ts': '2024-01-05 10:00', "
              "'event_type': 'login'}]))\n"
              "    os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", script], timeout=120).returncode == 9
    assert len(databases(store)) == 2 and store._reading() == reading and store.info().rows["events"] == 3
    load_files(store, "events", [events_file(tmp_path, "event_id,user_id,ts,event_type\ne5,u1,2024-01-02 10:00,login\n",
                                             "late.csv")])
    assert store.info().rows["events"] == 4
    assert sorted(databases(store)) == sorted([reading, store._reading()])


def test_a_load_in_another_process_while_this_one_reads(store, tmp_path, chdb_directory):
    load_files(store, "events", [events_file(tmp_path)])
    assert store.info().rows["events"] == 3
    late = events_file(tmp_path, "event_id,user_id,ts,event_type\ne6,u4,2024-01-09 10:00,login\n", "other.csv")
    script = (f"import sys; sys.path[:0] = [{str(ROOT)!r}]\nfrom pathlib import Path\n"
              "from pulse.clickhouse import ClickHouseStore\nfrom loaders.load import load_files\n"
              f"s = ClickHouseStore.chdb(Path({str(chdb_directory)!r}), {store.database!r})\n"
              f"print(load_files(s, 'events', [Path({str(late)!r})]).reports['events'].stored)\n")
    done = subprocess.run([sys.executable, "-c", script], timeout=180, capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "1"), done.stderr[-500:]
    assert (store.version(), store.info().rows["events"]) == ("2", 4)


# -- Pulse's SQL ------------------------------------------------------------------------------

def test_sql_on_clickhouse_reads_the_stores_tables_and_nothing_else(store, tmp_path):
    load_files(store, "events", [events_file(tmp_path)])
    frame_, cut = sandbox.run_sql(store, "SELECT user_id, count(*) AS events FROM events GROUP BY ALL ORDER BY user_id")
    assert (frame_.rows(), cut) == ([("u1", 2), ("u2", 1)], False)
    first, cut = sandbox.run_sql(store, "SELECT event_id FROM events ORDER BY event_id", limit=2)
    assert (first["event_id"].to_list(), cut) == (["e1", "e2"], True)
    for sql, sentence in [
        ("SELECT * FROM system.tables", "and system.tables is not one of them."),
        ("SELECT * FROM published", "and published is not one of them."),
        ("SELECT * FROM read_csv('/etc/passwd')", "is not one of them."),
        ("SELECT * FROM meta", "The meta table is Pulse's own bookkeeping and not open to SQL."),
        ("DROP TABLE events", "Pulse's SQL is read-only and cannot run DROP."),
        ("SELECT nosuch FROM events", "The query failed: Unknown expression identifier `nosuch`."),
    ]:
        with pytest.raises(sandbox.SandboxError) as caught:
            sandbox.run_sql(store, sql)
        assert str(caught.value).endswith(sentence) or str(caught.value).startswith(sentence), str(caught.value)
    assert store.info().rows["events"] == 3
