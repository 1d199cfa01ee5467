"""A gRPC peer on Debian's python3-grpcio (gRPC's C core), for the trace
tests: no generated stubs, the methods take and return raw bytes.

server: listens on 127.0.0.1:0, prints its port, serves until stdin
closes, then prints what it handled as JSON {"<method> <status>": n}.
client PORT OK NOTFOUND [SIZE]: makes OK calls of Say (answered with SIZE
bytes) and NOTFOUND calls of Find (answered NOT_FOUND) on one channel,
prints what it saw the same way.
"""
import json
import sys
import threading
from concurrent import futures

import grpc

SAY = "/pixie.test.Echo/Say"
FIND = "/pixie.test.Echo/Find"

handled = {}
lock = threading.Lock()


def count(table, key):
    with lock:
        table[key] = table.get(key, 0) + 1


def say(request, context):
    count(handled, SAY + " 0")
    size = int.from_bytes(request[:4], "big") if len(request) >= 4 else 0
    return b"r" * size


def find(request, context):
    count(handled, FIND + " 5")
    context.abort(grpc.StatusCode.NOT_FOUND, "no such item")


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("pixie.test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Find": grpc.unary_unary_rpc_method_handler(find),
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)
    print(json.dumps(handled), flush=True)


def client(port, ok, notfound, size):
    saw = {}
    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        say_call = ch.unary_unary(SAY)
        find_call = ch.unary_unary(FIND)
        for i in range(ok):
            reply = say_call(size.to_bytes(4, "big") + b"q" * (i % 7), timeout=10)
            if len(reply) != size:
                sys.exit("Say answered %d bytes, want %d" % (len(reply), size))
            count(saw, SAY + " 0")
        for _ in range(notfound):
            try:
                find_call(b"x", timeout=10)
                count(saw, FIND + " 0")
            except grpc.RpcError as e:
                count(saw, FIND + " %d" % e.code().value[0])
    print(json.dumps(saw), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve()
    else:
        client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
               int(sys.argv[5]) if len(sys.argv) > 5 else 16)
