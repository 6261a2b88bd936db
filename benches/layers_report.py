"""Benchmark: govctl layers report against the hand-run AWS CLI + jq baseline.

Run through `scripts/bench`, which installs what this needs. It starts the local emulator,
seeds a generated organization, and times, side by side in one run:

1. the hand-run baseline: `aws configservice select-aggregate-resource-config` piped into
   `jq` to CSV, once per outdated layer version ARN (it handles one ARN per run);
2. `govctl layers report --source config`;
3. `govctl layers report --source lambda`;

with no added latency and with latency added to every request by the emulator. For each
it prints wall time, requests made (counted by the emulator) and peak RSS, and the ratio
of govctl to the baseline. It also checks that govctl's report contains every row the
baseline found. `--memory` instead measures govctl's peak RSS at several organization
sizes. Nothing here asserts a time: it reports what it measured.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EMULATOR_PYTHON = REPO / ".venv/bin/python"
BENCH_BIN = REPO / ".venv-bench/bin"
GOVCTL = REPO / "target/release/govctl"
REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1")

BASELINE_JQ = (
    ".Results[] | fromjson | . as $f | .configuration.layers[] "
    "| select(.arn == $arn) "
    "| [$f.accountId, $f.awsRegion, $f.configuration.functionName, .arn] | @csv"
)


@dataclass
class Measure:
    tool: str
    latency_ms: int
    seconds: float
    requests: int
    peak_rss_mb: float
    rows: int


class Emulator:
    """The emulator as a child process; it exits when our end of its stdin closes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(EMULATOR_PYTHON), str(REPO / "tests/emulator/server.py"),
             "--port", "0", "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        line = self.process.stdout.readline().decode().strip()
        prefix = "GOVCTL_EMULATOR_READY "
        if not line.startswith(prefix):
            raise SystemExit(f"the emulator did not start: {line!r}")
        self.endpoint = line[len(prefix):]

    def control(self, method: str, path: str, body: object | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def seed(self, accounts: int, regions: int, functions: int) -> dict:
        self.control("POST", "/moto-api/reset")
        out = subprocess.run(
            [str(EMULATOR_PYTHON), str(REPO / "tests/emulator/seed.py"),
             "--endpoint", self.endpoint, "--scenario", "scale",
             "--accounts", str(accounts), "--regions", str(regions),
             "--functions", str(functions)],
            check=True, capture_output=True,
        )
        return json.loads(out.stdout)

    def latency(self, milliseconds: int) -> None:
        if milliseconds:
            rules = [{"match": {}, "latency_ms": milliseconds}]
            self.control("POST", "/_govctl/faults", {"seed": 1, "rules": rules})
        else:
            self.control("DELETE", "/_govctl/faults")

    def reset_stats(self) -> None:
        self.control("DELETE", "/_govctl/stats")

    def requests(self) -> int:
        return int(self.control("GET", "/_govctl/stats")["total"])

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def environment(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOVCTL_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    })
    return env


def run_measured(argv: list[str], env: dict[str, str], stdout=None, stdin=None) -> tuple[int, float]:
    """Runs one process to its end; returns (exit status, peak RSS in MB) from wait4."""
    process = subprocess.Popen(argv, env=env, stdout=stdout, stdin=stdin, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({process.returncode}): {process.stderr.read().decode()}")
    return process.returncode, usage.ru_maxrss / 1024


def baseline(emulator: Emulator, arns: list[str], env: dict[str, str], latency: int) -> tuple[Measure, set]:
    """The hand-run way: one AWS CLI query per layer version ARN, jq to CSV."""
    found: set[tuple[str, ...]] = set()
    peak = 0.0
    emulator.reset_stats()
    start = time.perf_counter()
    for arn in arns:
        expression = (
            "SELECT accountId, awsRegion, configuration.functionName, configuration.layers "
            f"WHERE resourceType = 'AWS::Lambda::Function' AND configuration.layers.arn = '{arn}'"
        )
        with tempfile.TemporaryFile() as json_out:
            _, rss = run_measured(
                [str(BENCH_BIN / "aws"), "configservice", "select-aggregate-resource-config",
                 "--configuration-aggregator-name", "org-aggregator",
                 "--expression", expression, "--output", "json"],
                env, stdout=json_out,
            )
            peak = max(peak, rss)
            json_out.seek(0)
            jq = subprocess.run(["jq", "-r", "--arg", "arn", arn, BASELINE_JQ],
                                stdin=json_out, capture_output=True, check=True)
        for row in csv.reader(io.StringIO(jq.stdout.decode())):
            found.add(tuple(row))
    seconds = time.perf_counter() - start
    return Measure("aws cli + jq", latency, seconds, emulator.requests(), peak, len(found)), found


def govctl(emulator: Emulator, source: str, regions: int, env: dict[str, str],
           latency: int, concurrency: int) -> tuple[Measure, set]:
    args = [str(GOVCTL), "layers", "report", "--quiet", "--source", source,
            "--concurrency", str(concurrency)]
    if source == "config":
        args += ["--aggregator", "org-aggregator"]
    else:
        args += ["--regions", ",".join(REGIONS[:regions])]
    emulator.reset_stats()
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        _, rss = run_measured(args, env, stdout=out)
        seconds = time.perf_counter() - start
        out.seek(0)
        rows = list(csv.DictReader(io.TextIOWrapper(out, encoding="utf-8", newline="")))
    found = {(r["account_id"], r["region"], r["function_name"], r["layer_arn"]) for r in rows}
    return Measure(f"govctl --source {source}", latency, seconds, emulator.requests(), rss, len(rows)), found


def print_table(measures: list[Measure]) -> None:
    print(f"{'tool':28} {'latency':>8} {'wall s':>8} {'requests':>9} {'peak MB':>8} "
          f"{'rows':>7} {'vs baseline':>12}")
    base = {m.latency_ms: m.seconds for m in measures if m.tool.startswith("aws")}
    for m in measures:
        ratio = base[m.latency_ms] / m.seconds if m.seconds else float("inf")
        speed = "1.0x" if m.tool.startswith("aws") else f"{ratio:.1f}x faster"
        print(f"{m.tool:28} {m.latency_ms:>6}ms {m.seconds:>8.2f} {m.requests:>9} "
              f"{m.peak_rss_mb:>8.1f} {m.rows:>7} {speed:>12}", flush=True)


def compare(args: argparse.Namespace) -> None:
    emulator = Emulator()
    try:
        print(f"seeding {args.accounts} accounts, {args.regions} regions, "
              f"{args.functions} functions ...", file=sys.stderr, flush=True)
        manifest = emulator.seed(args.accounts, args.regions, args.functions)
        arns = manifest["outdated_layer_version_arns"]
        print(f"{len(arns)} outdated layer version ARNs", file=sys.stderr, flush=True)
        env = environment(emulator.endpoint)
        measures = []
        for latency in args.latency:
            emulator.latency(latency)
            base, base_rows = baseline(emulator, arns, env, latency)
            measures.append(base)
            for source in ("config", "lambda"):
                measure, rows = govctl(emulator, source, args.regions, env, latency,
                                       args.concurrency)
                measures.append(measure)
                missing = base_rows - rows
                if missing:
                    raise SystemExit(f"govctl {source} misses {len(missing)} baseline rows, "
                                     f"e.g. {sorted(missing)[:3]}")
            print_table(measures)
            print(file=sys.stderr)
        emulator.latency(0)
        print("every govctl report contains every row the baseline found")
    finally:
        emulator.stop()


def memory(args: argparse.Namespace) -> None:
    emulator = Emulator()
    try:
        env = environment(emulator.endpoint)
        print(f"{'functions':>10} {'wall s':>8} {'requests':>9} {'peak MB':>8} {'rows':>7}")
        for functions in args.sizes:
            print(f"seeding {functions} functions ...", file=sys.stderr, flush=True)
            emulator.seed(args.accounts, args.regions, functions)
            measure, _ = govctl(emulator, "config", args.regions, env, 0, args.concurrency)
            print(f"{functions:>10} {measure.seconds:>8.2f} {measure.requests:>9} "
                  f"{measure.peak_rss_mb:>8.1f} {measure.rows:>7}", flush=True)
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--functions", type=int, default=20_000)
    parser.add_argument("--latency", type=int, nargs="+", default=[0, 50],
                        help="milliseconds added per request, one pass each")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--memory", action="store_true",
                        help="measure peak RSS at --sizes instead of comparing tools")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    memory(args) if args.memory else compare(args)


if __name__ == "__main__":
    main()
