"""The benchmark's Python RPyC client: connects once, then answers each
JSON-line command on stdin with one JSON line on stdout, timing its own
loops, as bench/_client.ts does. Exits when stdin closes.

    /usr/bin/python3 bench/_rpyc_client.py PORT [--call-back NAME]

The same client calls Python's ThreadedServer (bench/_rpyc_server.py) and
netref's serve(), which answers RPyC on its port: `--call-back callBack`
names the method that calls back where the server's name differs from
Python's `call_back` (netref's exposed members keep their TypeScript names).

Every connection reads `conn.root.foo` once and calls that netref: one round
trip per call, as netref's `root.foo()`. (Written out each time,
`conn.root.foo()` costs RPyC two: a getattr, then the call.)
"""

import collections
import json
import resource
import sys
import time

import rpyc
from rpyc.core.stream import SocketStream

IN_FLIGHT = 100
PAYLOAD_BYTES = {"bytes1k": 1024, "bytes1m": 1024 * 1024}
MAX_RUN_MS = 60_000


def identity(x):
    return x


class Client:
    """One RPyC connection and the netrefs the loops call."""

    def __init__(self, port, call_back_name):
        stream = SocketStream.connect("127.0.0.1", port, nodelay=True)
        self.conn = rpyc.connect_stream(stream, config={"sync_request_timeout": 60})
        root = self.conn.root
        self.foo = root.foo
        self.echo = root.echo
        self.call_back = getattr(root, call_back_name)
        self.make = root.make
        self.async_foo = rpyc.async_(self.foo)
        self.async_make = rpyc.async_(self.make)

    def close(self):
        self.conn.close()


def cpu_ms():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def with_cpu(loop):
    """Runs `loop` and adds the CPU time this process used meanwhile."""
    before = cpu_ms()
    reply = loop()
    reply["cpuMs"] = cpu_ms() - before
    return reply


def payload_of(size):
    return bytes(i & 0xFF for i in range(size))


def sequential(call, ms):
    calls = 0
    start = time.perf_counter()
    end = start + ms / 1000
    now = start
    while True:
        call()
        calls += 1
        now = time.perf_counter()
        if now >= end:
            break
    return {"calls": calls, "ms": (now - start) * 1000}


def pipelined(start_call, window, ms):
    """Keeps `window` async calls outstanding: waits for the oldest, starts another."""
    calls = 0
    start = time.perf_counter()
    end = start + ms / 1000
    pending = collections.deque(start_call() for _ in range(window))
    while pending:
        pending.popleft().value
        calls += 1
        if time.perf_counter() < end:
            pending.append(start_call())
    return {"calls": calls, "ms": (time.perf_counter() - start) * 1000}


class Driver:
    def __init__(self, port, call_back_name):
        self.port = port
        self.call_back_name = call_back_name
        self.main = Client(port, call_back_name)
        self.others = []

    def loop(self, loop, ms):
        main = self.main
        if loop == "call":
            def call():
                if main.foo() != "foo":
                    raise ValueError("foo() != 'foo'")
            return sequential(call, ms)
        if loop in PAYLOAD_BYTES:
            payload = payload_of(PAYLOAD_BYTES[loop])

            def echo():
                echoed = main.echo(payload)
                if len(echoed) != len(payload) or echoed[-1] != payload[-1]:
                    raise ValueError("echo returned different bytes")
            return sequential(echo, ms)
        if loop == "callback":
            def callback():
                if main.call_back(identity) != 1:
                    raise ValueError("call_back() != 1")
            return sequential(callback, ms)
        if loop == "inflight":
            return pipelined(main.async_foo, IN_FLIGHT, ms)
        raise TypeError(f"Cannot run loop {loop}")

    def open(self, total):
        start = time.perf_counter()
        while 1 + len(self.others) < total:
            self.others.append(Client(self.port, self.call_back_name))
        return {"open": 1 + len(self.others), "ms": (time.perf_counter() - start) * 1000}

    def load(self, ms):
        """Every connection keeps one call outstanding: one thread, async requests."""
        clients = [self.main] + self.others
        calls = 0
        start = time.perf_counter()
        end = start + ms / 1000
        pending = [client.async_foo() for client in clients]
        while pending:
            again = []
            for client, result in zip(clients, pending):
                result.value
                calls += 1
                if time.perf_counter() < end:
                    again.append((client, client.async_foo()))
            clients = [client for client, _ in again]
            pending = [result for _, result in again]
        return {"calls": calls, "ms": (time.perf_counter() - start) * 1000}

    def shrink(self):
        for client in self.others:
            client.close()
        self.others = []
        return {"open": 1}

    def churn(self, count, window):
        """Creates and releases `count` objects, `window` creations outstanding."""
        imports_before = len(self.main.conn._proxy_cache)
        start = time.perf_counter()
        started = 0
        pending = collections.deque()
        while started < count or pending:
            while started < count and len(pending) < window:
                pending.append(self.main.async_make())
                started += 1
            item = pending.popleft().value
            # Dropping the last reference sends RPyC's HANDLE_DEL.
            del item
        ms = (time.perf_counter() - start) * 1000
        # Let the last releases reach the server.
        self.main.conn.ping()
        return {
            "objects": started,
            "ms": ms,
            "clientImportsBefore": imports_before,
            "clientImports": len(self.main.conn._proxy_cache),
        }

    def handle(self, command):
        op = command.get("op")
        if op == "loop":
            ms = check_ms(command["ms"])
            return with_cpu(lambda: self.loop(command["loop"], ms))
        if op == "open":
            return self.open(int(command["total"]))
        if op == "load":
            ms = check_ms(command["ms"])
            return with_cpu(lambda: self.load(ms))
        if op == "shrink":
            return self.shrink()
        if op == "churn":
            return self.churn(int(command["count"]), int(command["window"]))
        raise TypeError(f"Cannot run {json.dumps(command)}")


def check_ms(ms):
    if not (isinstance(ms, (int, float)) and 0 < ms <= MAX_RUN_MS):
        raise ValueError(f"Cannot run for {ms} ms: expected 1 to {MAX_RUN_MS}")
    return ms


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[1] == "--call-back":
        call_back_name = args[2]
    elif len(args) == 1:
        call_back_name = "call_back"
    else:
        print("usage: _rpyc_client.py PORT [--call-back NAME]", file=sys.stderr)
        sys.exit(2)
    driver = Driver(int(args[0]), call_back_name)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = driver.handle(json.loads(line))
        except Exception as error:  # reported to run.ts, which fails the run
            print(f"rpyc client: {error!r}", file=sys.stderr)
            reply = {"error": str(error)}
        print(json.dumps(reply), flush=True)
    for client in [driver.main] + driver.others:
        client.close()


if __name__ == "__main__":
    main()
