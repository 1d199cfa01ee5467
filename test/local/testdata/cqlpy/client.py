"""The second ecosystem's Cassandra client of test/local: Debian's
python3-cassandra (the DataStax Python driver) against testdata/cql's
server. Prints what it did as JSON."""
import json
import sys

from cassandra import InvalidRequest, Unavailable, ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
from cassandra.policies import RetryPolicy
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, SimpleStatement


class NoRetry(RetryPolicy):
    def on_unavailable(self, query, consistency, required_replicas, alive_replicas, retry_num):
        return self.RETHROW, None


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])  # then the protocol version
    cluster = Cluster(["127.0.0.1"], port=port, protocol_version=int(sys.argv[3]), schema_metadata_enabled=False,
                      token_metadata_enabled=False, default_retry_policy=NoRetry(),
                      auth_provider=PlainTextAuthProvider("cassandra", "hunter2"))
    s = cluster.connect()
    rep = {"Inserts": 0, "Selects": 0, "Batches": 0, "Pages": 0, "PagedRows": 0, "Errors": {}}
    s.execute("CREATE KEYSPACE IF NOT EXISTS py WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE IF NOT EXISTS py.users (id int PRIMARY KEY, name text)")
    ins = s.prepare("INSERT INTO py.users (id, name) VALUES (?, ?)")
    for i in range(n):
        s.execute(ins, (i, "user-%d" % i))
        rep["Inserts"] += 1
    sel = s.prepare("SELECT name FROM py.users WHERE id = ?")
    for i in range(n):
        row = s.execute(sel, (i,)).one()
        assert row.name == "user-%d" % i, row
        rep["Selects"] += 1
    for b in range(2):
        batch = BatchStatement()
        for i in range(3):
            batch.add(ins, (1000 + 3 * b + i, "batched"))
        s.execute(batch)
        rep["Batches"] += 1
    page = s.execute(SimpleStatement("SELECT id, name FROM py.users", fetch_size=5))
    while True:
        rep["Pages"] += 1
        rep["PagedRows"] += len(page.current_rows)
        if not page.has_more_pages:
            break
        page.fetch_next_page()
    assert rep["PagedRows"] == n + 6, rep
    for stmt, exc, code in [
        (SimpleStatement("SELECT name FROM py.nope WHERE id = 1"), InvalidRequest, 0x2200),
        (SimpleStatement("SELEC name FROM py.users"), SyntaxException, 0x2000),
        (SimpleStatement("INSERT INTO py.users (id, name) VALUES (1, 'x')", consistency_level=ConsistencyLevel.TWO), Unavailable, 0x1000),
    ]:
        try:
            s.execute(stmt)
            raise SystemExit("no error for %s" % stmt)
        except exc:
            rep["Errors"][str(code)] = rep["Errors"].get(str(code), 0) + 1
    cluster.shutdown()
    print(json.dumps(rep))


main()
