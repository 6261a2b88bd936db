"""lambda_runtime.py against the Lambda Runtime API reference: the next invocation with its
headers, the answers, and the summary line once every event is answered."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

RUNTIME = Path(__file__).resolve().parent / "lambda_runtime.py"


def test_events_are_handed_out_in_order_and_the_answers_reported(tmp_path):
    events = [{"Step": "createSecret"}, {"Step": "setSecret"}]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    process = subprocess.Popen([sys.executable, str(RUNTIME), "--events", str(path), "--timeout", "20"],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    address = process.stdout.readline().split()[1]
    base = f"http://{address}/2018-06-01/runtime/invocation"

    for index, (event, outcome) in enumerate(zip(events, ["response", "error"])):
        with urllib.request.urlopen(f"{base}/next") as answer:
            assert json.loads(answer.read()) == event
            assert answer.headers["Lambda-Runtime-Aws-Request-Id"] == f"request-{index}"
            assert int(answer.headers["Lambda-Runtime-Deadline-Ms"]) > 0
            assert answer.headers["Lambda-Runtime-Invoked-Function-Arn"].startswith("arn:aws:lambda:")
        body = json.dumps({"index": index}).encode()
        request = urllib.request.Request(f"{base}/request-{index}/{outcome}", data=body, method="POST")
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 202

    done = process.stdout.readline()
    assert process.wait(timeout=10) == 0
    answers = json.loads(done.removeprefix("LAMBDA_RUNTIME_DONE "))
    assert [(a["request_id"], a["ok"]) for a in answers] == [("request-0", True), ("request-1", False)]
