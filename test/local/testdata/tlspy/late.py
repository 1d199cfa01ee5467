"""An HTTPS client that loads OpenSSL only after the trace started.

late.py HOST:PORT PATH...   after a line on stdin imports ssl (which
                            dlopens libssl) and prints "loaded"; after
                            another, GETs each PATH in order on one
                            keep-alive connection, certificate unchecked,
                            and prints {"GET path status": count} as JSON.

Nothing here may import ssl before the first line: http.client does.
"""
import json
import sys

sys.stdin.readline()
import ssl  # noqa: E402 -- the point: libssl is mapped now, not at start
import http.client  # noqa: E402

print("loaded", flush=True)
sys.stdin.readline()
conn = http.client.HTTPSConnection(sys.argv[1], context=ssl._create_unverified_context())
seen = {}
for path in sys.argv[2:]:
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    key = "GET %s %d" % (path, resp.status)
    seen[key] = seen.get(key, 0) + 1
conn.close()
print(json.dumps(seen), flush=True)
