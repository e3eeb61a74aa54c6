#!/usr/bin/env python3
"""The poem page in a real browser: a ctest case (examples/CMakeLists.txt).

    browser_test.py POEM_SERVER POEMS WORK_DIR

Trains a small model, starts poem_server on a free loopback port and opens its page in headless
Chromium (Debian's chromium package; installed here when missing). Through the DevTools protocol
(Debian's python3-websockets) it reads the page's DOM until the streamed poem has arrived: the
text of <pre id="poem"> begins with the prompt and goes on, and the header names the model. Then
it saves a screenshot of the page as WORK_DIR/poem_page.png.
"""
import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

SERVER, POEMS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
PROMPT = "a lua "


def install_chromium():
    if shutil.which("chromium"):
        return
    print("browser_test: installing Debian's chromium", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


def make_model():
    rng = random.Random(11)
    words = "a lua o mar a noite canta e vento sobre flor luz do sol".split()
    text = "".join("\n".join(" ".join(rng.choice(words) for _ in range(4)) for _ in range(3)) + "\n@\n"
                   for _ in range(200))
    with open(os.path.join(WORK, "poems.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    model = os.path.join(WORK, "poems.safetensors")
    subprocess.run([POEMS, "train", "--data", os.path.join(WORK, "poems.txt"), "--units", "16", "--window", "20",
                    "--epochs", "1", "--max-batches", "30", "--out", model], check=True, stdout=subprocess.DEVNULL)
    return model


def start(command, pattern, stream_name):
    """Starts a process and returns it with the first match of `pattern` in its stdout/stderr."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE if stream_name == "stdout" else subprocess.DEVNULL,
                               stderr=subprocess.PIPE if stream_name == "stderr" else subprocess.DEVNULL, text=True)
    stream = process.stdout if stream_name == "stdout" else process.stderr
    deadline = time.time() + 30
    while time.time() < deadline:
        line = stream.readline()
        if not line:
            break
        match = re.search(pattern, line)
        if match:
            return process, match
    process.kill()
    raise SystemExit("browser_test: %s did not start" % command[0])


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands to one page, answers by id."""

    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def call(self, method, **params):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError("%s: %s" % (method, answer["error"]))
                return answer["result"]

    async def evaluate(self, expression):
        return (await self.call("Runtime.evaluate", expression=expression, returnByValue=True))["result"]["value"]


async def main():
    os.makedirs(WORK, exist_ok=True)
    install_chromium()
    model = make_model()
    server, match = start([SERVER, "--model", model, "--port", "0", "--chars-per-second", "40", "--prompt", PROMPT],
                          r"listening on (http://127\.0\.0\.1:\d+/)", "stdout")
    url = match.group(1)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=WORK)
    browser, match = start(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--hide-scrollbars", "--user-data-dir=" + profile, "--remote-debugging-port=0",
                            "--window-size=900,640", url],
                           r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", "stderr")
    failures = 0
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/json/list" % match.group(1), timeout=10) as response:
            pages = [t for t in json.load(response) if t["type"] == "page"]
        async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            devtools = DevTools(ws)
            poem, model_name = "", ""
            deadline = time.time() + 30
            while time.time() < deadline and len(poem) < len(PROMPT) + 40:
                await asyncio.sleep(0.25)
                poem = await devtools.evaluate("(document.getElementById('poem') || {}).textContent || ''")
                model_name = await devtools.evaluate("(document.getElementById('model') || {}).textContent || ''")
            print("browser_test: the page shows %d characters of poem: %r" % (len(poem), poem[:60]))
            ok = poem.startswith(PROMPT) and len(poem) >= len(PROMPT) + 40 and model_name == "poems.safetensors"
            print(("ok  " if ok else "FAIL") + " the streamed poem arrived in the page's DOM, under the model's name")
            failures += not ok
            shot = await devtools.call("Page.captureScreenshot", format="png")
            path = os.path.join(WORK, "poem_page.png")
            with open(path, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print("ok   screenshot saved: " + path)
    finally:
        browser.kill()
        browser.wait()
        server.send_signal(signal.SIGTERM)
        code = server.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
    if code != 0:
        print("FAIL the server exited with %s" % code)
        failures += 1
    sys.exit(1 if failures else 0)


asyncio.run(main())
