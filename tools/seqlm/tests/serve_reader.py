#!/usr/bin/env python3
"""seqlm serve as a reader of its page sees it (run by serve_test.sh; needs python3-websockets).

    serve_reader.py SEQLM MODEL VOCABULARY_FILE

Starts `seqlm serve MODEL` on a free loopback port and checks: /healthz and the page answer; a
reader gets the hello naming the model, a first poem that starts from a newline (the model has
no seed text), and 300 characters of the model's vocabulary in "text" messages only (an "@" in
the text is a character, not the end of a poem); a new poem keeps the prompt's capitals (the
model is case-sensitive); SIGTERM closes the WebSocket with 1001 and the server exits 0.
"""
import asyncio
import json
import re
import signal
import subprocess
import sys
import urllib.request

import websockets

SEQLM, MODEL, VOCABULARY = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


async def receive(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def main():
    with open(VOCABULARY, encoding="utf-8") as f:
        vocabulary = set(f.read())
    # Fast but paced: an unpaced server outruns a Python reader (docs in server_test.py).
    server = subprocess.Popen([SEQLM, "serve", MODEL, "--port", "0", "--chars-per-second", "2000"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            raise SystemExit("seqlm serve did not start: " + line + server.stdout.read())
        http = "http://127.0.0.1:%s" % match.group(1)
        with urllib.request.urlopen(http + "/healthz", timeout=10) as response:
            check(response.status == 200 and response.read() == b"ok\n", "/healthz answers ok")
        with urllib.request.urlopen(http + "/", timeout=10) as response:
            check('id="poem"' in response.read().decode(), "/ serves the page")

        async with websockets.connect("ws://127.0.0.1:%s/stream" % match.group(1), max_queue=None) as ws:
            hello = await receive(ws)
            check(hello["type"] == "hello" and hello["model"] == MODEL.split("/")[-1], "hello names the model")
            first = await receive(ws)
            check(first == {"type": "poem", "prompt": "\n"}, "the first poem starts from a newline: %s" % first)
            text, kinds = "", set()
            while len(text) < 300:
                message = await receive(ws)
                kinds.add(message["type"])
                text += message.get("text", "")
            check(kinds == {"text"}, "300 characters come as text, with no poem boundary (%s)" % kinds)
            check(set(text) <= vocabulary, "every character is in the model's vocabulary")
            await ws.send(json.dumps({"type": "new_poem", "prompt": "The "}))
            while (message := await receive(ws))["type"] != "poem":
                pass
            check(message["prompt"] == "The ", "a new poem keeps the prompt's capitals: %s" % message)
            await ws.send(json.dumps({"type": "new_poem", "prompt": "\u00e9"}))
            while (message := await receive(ws))["type"] != "error":
                pass
            check("not in the model's vocabulary" in message["message"], "an unknown prompt character is refused")
            server.send_signal(signal.SIGTERM)
            try:
                while True:
                    await receive(ws)
            except websockets.ConnectionClosed as closed:
                check(closed.code == 1001, "SIGTERM closes the WebSocket with 1001 (got %s)" % closed.code)
        code = server.wait(10)
        check(code == 0, "seqlm serve exits 0 after SIGTERM (got %s)" % code)
        check("seqlm serve: stopped" in server.stdout.read(), "it says it stopped")
    finally:
        if server.poll() is None:
            server.kill()
    if failures:
        sys.exit("%d check(s) failed" % len(failures))


asyncio.run(main())
