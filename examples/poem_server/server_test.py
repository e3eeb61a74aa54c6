#!/usr/bin/env python3
"""poem_server as its readers see it: a ctest case (examples/CMakeLists.txt).

    server_test.py POEM_SERVER POEMS WORK_DIR

Trains a small model with `poems train` on a text made here, starts poem_server on a free
loopback port and checks, over real WebSocket connections (Debian's python3-websockets):
  * two readers get >= 200 characters each, all from the model's vocabulary, and different
    texts (own streams); a new temperature is acknowledged; a new poem starts from a prompt;
  * bad requests (not JSON, unknown type, temperature <= 0 or not a number, characters outside
    the vocabulary, a 5 KB message) get an "error" message and the stream goes on; a 70 KB
    message and garbage bytes close the connection; the server keeps serving;
  * --max-readers: one reader too many gets an error and a 1013 close;
  * a reader that stops reading does not slow the others, and is dropped after --send-timeout;
  * 1,000 connects and disconnects leave the server's memory where it was;
  * --broadcast: readers read one shared stream at the pace asked for, and requests are refused;
  * /healthz and /metrics answer; SIGTERM closes every WebSocket with 1001 and exits 0.
"""
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import websockets

SERVER, POEMS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def make_model():
    os.makedirs(WORK, exist_ok=True)
    rng = random.Random(7)
    words = "a lua o mar a noite canta e vento sobre flor luz do sol manhã chove".split()
    poems = []
    for _ in range(300):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(2, 4))]
        poems.append("\n".join(lines) + "\n@\n")
    text_path = os.path.join(WORK, "poems.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write("".join(poems))
    model_path = os.path.join(WORK, "poems.safetensors")
    subprocess.run([POEMS, "train", "--data", text_path, "--units", "16", "--window", "20", "--epochs", "1",
                    "--max-batches", "40", "--out", model_path], check=True, stdout=subprocess.DEVNULL)
    vocabulary = set("".join(poems).replace("@\n", ""))
    return model_path, vocabulary


class Server:
    def __init__(self, model, *options):
        self.process = subprocess.Popen([SERVER, "--model", model, "--port", "0", *options],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            raise SystemExit("poem_server did not start: " + line + self.process.stdout.read())
        self.port = int(match.group(1))
        self.url = "ws://127.0.0.1:%d/stream" % self.port

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=10) as response:
            return response.status, response.read().decode()

    def metric(self, name):
        body = self.get("/metrics")[1]
        return float(re.search(r"^%s (\S+)$" % re.escape(name), body, re.M).group(1))

    def alive(self):
        return self.process.poll() is None and self.get("/healthz") == (200, "ok\n")


def connect(url, **options):
    # An unbounded incoming queue: the unpaced server sends faster than a test reads, and a full
    # queue would keep the client from reading the server's close frame.
    return websockets.connect(url, max_queue=None, **options)


async def receive(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def read_characters(ws, count, messages=None):
    """Reads until `count` characters of text arrived; returns the text."""
    text = ""
    while len(text) < count:
        message = await receive(ws)
        if messages is not None:
            messages.append(message)
        if message["type"] == "text":
            text += message["text"]
    return text


async def until(ws, kind):
    while True:
        message = await receive(ws)
        if message["type"] == kind:
            return message


async def own_streams(server, vocabulary):
    async with connect(server.url) as first, connect(server.url) as second:
        hello = await receive(first)
        check(hello["type"] == "hello" and hello["model"] == "poems.safetensors", "hello names the model")
        a, b = await asyncio.gather(read_characters(first, 200), read_characters(second, 200))
        check(len(a) >= 200 and len(b) >= 200, "two readers read >= 200 characters each")
        check(set(a) <= vocabulary and set(b) <= vocabulary, "every character is in the model's vocabulary")
        check(a[:200] != b[:200], "the two readers' texts differ (own streams)")
        await first.send(json.dumps({"type": "temperature", "temperature": 1.7}))
        check((await until(first, "temperature"))["temperature"] == 1.7, "a new temperature is acknowledged")
        await first.send(json.dumps({"type": "new_poem", "prompt": "A Lua "}))
        check((await until(first, "poem"))["prompt"] == "a lua ", "a new poem starts from the (lower-cased) prompt")
        check(set(await read_characters(first, 50)) <= vocabulary, "the new poem goes on")


async def bad_requests(server):
    async with connect(server.url, max_size=None) as ws:
        for request, expected in [
            ("not json", "not JSON"),
            ("[1, 2]", "JSON object"),
            (json.dumps({"type": "dance"}), "unknown message type"),
            (json.dumps({"type": "temperature", "temperature": 0}), "temperature must be in"),
            (json.dumps({"type": "temperature", "temperature": -3}), "temperature must be in"),
            (json.dumps({"type": "temperature", "temperature": "hot"}), "must be a number"),
            ('{"type": "temperature", "temperature": NaN}', "not JSON"),
            (json.dumps({"type": "new_poem", "prompt": "a lua \u2603"}), "not in the model's vocabulary"),
            (json.dumps({"type": "new_poem", "prompt": 7}), "must be a string"),
            (json.dumps({"type": "new_poem", "prompt": "x" * 5000}), "at most 4096"),
            (b"\x00\x01binary", "binary messages"),
        ]:
            await ws.send(request)
            error = await until(ws, "error")
            check(expected in error["message"], "refused with a clear message: %r -> %r" % (
                request[:40], error["message"][:90]))
        check(len(await read_characters(ws, 20)) >= 20, "the stream goes on after bad requests")
        await ws.send("x" * 70000)
        try:
            while True:
                await receive(ws)
        except websockets.ConnectionClosed as closed:
            check(closed.code == 1009, "a 70 KB message closes the connection with 1009 (got %s)" % closed.code)
    # Garbage where a WebSocket frame should be, and where an HTTP request should be.
    for garbage, upgrade in [(bytes(random.Random(3).randrange(256) for _ in range(4000)), True),
                             (b"\x16\x03\x01 this is no HTTP\r\n\r\n", False)]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            if upgrade:
                raw.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                check(b" 101 " in raw.recv(4096), "the raw client's handshake succeeds")
            raw.sendall(garbage)
            closed = False
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    data = raw.recv(65536)
                except ConnectionResetError:
                    closed = True
                    break
                if not data:
                    closed = True
                    break
            check(closed, "garbage %s is disconnected" % ("frames" if upgrade else "instead of HTTP"))
    check(server.alive(), "the server still serves after bad input")


async def max_readers(server):
    readers = [await connect(server.url) for _ in range(4)]
    try:
        async with connect(server.url) as extra:
            error = await until(extra, "error")
            check("server is full" in error["message"], "the reader beyond --max-readers gets an error")
            try:
                await receive(extra)
            except websockets.ConnectionClosed as closed:
                check(closed.code == 1013, "... and a 1013 close (got %s)" % closed.code)
    finally:
        for reader in readers:
            await reader.close()


async def stalled_reader(server):
    async def rate(seconds):
        async with connect(server.url) as ws:
            await until(ws, "text")
            start, count = time.time(), 0
            while time.time() - start < seconds:
                message = await receive(ws)
                if message["type"] == "text":
                    count += len(message["text"])
            return count / seconds

    alone = await rate(2)
    dropped_before = server.metric("poem_readers_dropped_total")
    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    time.sleep(0.2)  # the handshake's answer is the last thing it reads
    beside = await rate(2)
    print("     characters/s of one reader: %.0f alone, %.0f beside a stalled reader" % (alone, beside))
    check(beside > 0.5 * alone, "a reader that stops reading does not slow the others")
    deadline = time.time() + 60
    while time.time() < deadline and server.metric("poem_readers_dropped_total") == dropped_before:
        await asyncio.sleep(0.5)
    check(server.metric("poem_readers_dropped_total") > dropped_before,
          "the stalled reader is dropped after --send-timeout")
    stalled.close()


async def churn(server):
    async def once():
        async with connect(server.url) as ws:
            await until(ws, "text")

    for _ in range(100):  # warm up: the allocator's pools and the batch states exist
        await once()
    before = server.metric("process_resident_memory_bytes")
    start = time.time()
    for _ in range(1000):
        await once()
    after = server.metric("process_resident_memory_bytes")
    print("     resident memory %.2f MiB before, %.2f MiB after 1,000 readers came and went (%.1f s)" % (
        before / 2**20, after / 2**20, time.time() - start))
    check(after - before < 2 * 2**20, "1,000 connects and disconnects leave memory where it was (< 2 MiB)")
    check(server.metric("poem_readers_connected") == 0, "no reader is left connected")


async def broadcast(model):
    server = Server(model, "--broadcast", "--chars-per-second", "50")
    try:
        async with connect(server.url) as first, connect(server.url) as second:
            check((await receive(first))["broadcast"] is True, "hello says the stream is shared")
            await receive(second)
            start = time.time()
            a, b = await asyncio.gather(read_characters(first, 100), read_characters(second, 100))
            elapsed = time.time() - start
            check(a[:90] in b or b[:90] in a, "broadcast readers read the same text")
            check(1.2 < elapsed < 6, "the shared stream keeps its pace (100 characters at 50/s in %.1f s)" % elapsed)
            await first.send(json.dumps({"type": "temperature", "temperature": 1.0}))
            check("shared stream" in (await until(first, "error"))["message"], "requests are refused in broadcast")
    finally:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(10)


async def shutdown(server):
    async with connect(server.url) as ws:
        await until(ws, "text")
        server.process.send_signal(signal.SIGTERM)
        try:
            while True:
                await receive(ws)
        except websockets.ConnectionClosed as closed:
            check(closed.code == 1001, "SIGTERM closes the WebSocket with 1001 'going away' (got %s)" % closed.code)
    try:
        code = server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        code = None
    check(code == 0, "the server exits 0 after SIGTERM (got %s)" % code)
    check("stopped" in server.process.stdout.read(), "the server says it stopped")


async def main():
    model, vocabulary = make_model()
    refused = subprocess.run([SERVER, "--model", model, "--broadcast", "--chars-per-second", "0", "--port", "0"],
                             capture_output=True, text=True, timeout=30)
    check(refused.returncode == 1 and "--broadcast needs a pace" in refused.stderr,
          "--broadcast without a pace is refused at start")
    # Fast but paced: an unpaced server outruns a Python reader, and a request's answer then
    # waits behind megabytes of text in the socket buffers.
    server = Server(model, "--chars-per-second", "1000", "--max-readers", "4")
    try:
        check(server.get("/healthz") == (200, "ok\n"), "/healthz answers ok")
        status, page = server.get("/")
        check(status == 200 and 'id="poem"' in page and "http" not in page.split("<script>")[1].split("location")[0],
              "/ serves the page, which loads nothing from elsewhere")
        await own_streams(server, vocabulary)
        await bad_requests(server)
        await max_readers(server)
        # Unpaced, so that a reader that stops reading fills its socket buffers in moments.
        unpaced = Server(model, "--chars-per-second", "0", "--send-timeout", "2")
        try:
            await stalled_reader(unpaced)
        finally:
            unpaced.process.send_signal(signal.SIGTERM)
            unpaced.process.wait(10)
        await churn(server)
        metrics = server.get("/metrics")[1]
        check("# TYPE poem_character_generation_seconds histogram" in metrics and
              server.metric("poem_characters_sent_total") > 1000, "/metrics has counters and the histogram")
        await broadcast(model)
        await shutdown(server)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all poem_server checks passed")


asyncio.run(main())
