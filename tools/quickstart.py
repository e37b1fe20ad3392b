"""``make run``: the quickstart. Starts two `agw echo` backends and `agw run` on
deploy/examples/quickstart, waits until the gateway answers, prints a curl line, and stops
everything on Ctrl-C.

    .venv/bin/python tools/quickstart.py [--dataplane python|envoy]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "examples" / "quickstart"
GATEWAY = ("127.0.10.1", 8080)
HOSTNAME = "echo.example.com"
BACKENDS = (("echo-v1", "127.0.11.1:9001"), ("echo-v2", "127.0.11.2:9001"))
READY_TIMEOUT_SECONDS = 60


def agw(*args: str) -> list[str]:
    return [sys.executable, "-m", "controlplane.cli", *args]


def gateway_answers() -> bool:
    connection = http.client.HTTPConnection(*GATEWAY, timeout=2)
    try:
        connection.request("GET", "/", headers={"Host": HOSTNAME})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataplane", choices=("python", "envoy"), default="python")
    args = parser.parse_args()
    children: list[subprocess.Popen[bytes]] = []
    try:
        for name, listen in BACKENDS:
            children.append(
                subprocess.Popen(agw("echo", "--name", name, "--listen", listen), cwd=ROOT)
            )
        gateway = subprocess.Popen(
            agw("run", str(EXAMPLE), "--dataplane", args.dataplane), cwd=ROOT
        )
        children.append(gateway)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not gateway_answers():
            if gateway.poll() is not None or time.monotonic() > deadline:
                print(
                    "quickstart: the gateway did not come up; see the output above", file=sys.stderr
                )
                return 1
            time.sleep(0.2)
        host, port = GATEWAY
        print(
            f"\nThe gateway is up. Try:\n\n  curl -H 'Host: {HOSTNAME}' http://{host}:{port}/hello\n\n"
            "Statuses: curl http://127.0.0.1:15000/debug/resources   Stop: Ctrl-C\n",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            gateway.wait()
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
