"""The benchmark's Python RPyC server: rpyc.utils.server.ThreadedServer on
127.0.0.1, a port the system picks, with the same service as netref's.

Prints {"port": N} as its first stdout line, then answers JSON-line commands
on stdin ({"op": "memory"}) until stdin closes, as bench/_servers.ts does.

    /usr/bin/python3 bench/_rpyc_server.py
"""

import gc
import json
import logging
import resource
import socket
import sys
import threading

import rpyc
from rpyc.utils.server import ThreadedServer

connections = set()
lock = threading.Lock()


class Item:
    """Handed out by reference by make()."""

    def exposed_value(self):
        return 1


class BenchService(rpyc.Service):
    """The benchmark's service: one instance per connection."""

    def on_connect(self, conn):
        with lock:
            connections.add(conn)

    def on_disconnect(self, conn):
        with lock:
            connections.discard(conn)

    def exposed_foo(self):
        return "foo"

    def exposed_echo(self, data):
        return data

    def exposed_call_back(self, fn):
        return fn(1)

    def exposed_make(self):
        return Item()


class NoDelayServer(ThreadedServer):
    """ThreadedServer with Nagle off on every accepted socket, as the other systems."""

    def _accept_method(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super()._accept_method(sock)


def resident_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory():
    gc.collect()
    with lock:
        conns = list(connections)
    exports = 0
    for conn in conns:
        # Objects the peer holds references to, as netref's export table.
        exports += len(conn._local_objects._dict)
    return {
        "rss": resident_bytes(),
        "heapUsed": None,
        "external": None,
        "collected": True,
        "exports": exports,
        "connections": len(conns),
    }


def main():
    logger = logging.getLogger("bench-rpyc")
    logger.setLevel(logging.WARNING)
    server = NoDelayServer(
        BenchService,
        hostname="127.0.0.1",
        port=0,
        logger=logger,
        backlog=1024,
        protocol_config={"allow_public_attrs": False},
    )
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    print(json.dumps({"port": server.port}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            if command.get("op") == "memory":
                reply = memory()
            elif command.get("op") == "cpu":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                reply = {"cpuMs": (usage.ru_utime + usage.ru_stime) * 1000}
            else:
                raise TypeError(f"Cannot run {line.strip()}: expected memory or cpu")
        except Exception as error:  # reported to run.ts, which fails the run
            reply = {"error": str(error)}
        print(json.dumps(reply), flush=True)
    server.close()


if __name__ == "__main__":
    main()
