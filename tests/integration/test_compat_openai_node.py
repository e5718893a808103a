"""The official openai SDK for Node against the gateway: tests/node/compat.test.mjs, its dependencies installed
with `npm ci` from the committed lockfile, run by `node --test` (text, streams with usage, `parse()` with a zod
schema and tools through each protocol, n=2, models, errors)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import MASTER_KEY, Gateway

pytestmark = pytest.mark.integration

NODE_TESTS = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("Node.js and npm are needed (apt-get install nodejs npm; .ci/run installs them)")
    installed = NODE_TESTS / "node_modules" / ".package-lock.json"
    lock = NODE_TESTS / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_TESTS, check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
    return NODE_TESTS / "node_modules"


def test_the_node_sdk_suite_passes_against_the_gateway(gateway: Gateway, node_modules: Path) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "TIERGATE_URL": gateway.ai_url, "TIERGATE_KEY": MASTER_KEY}
    run = subprocess.run(["node", "--test", "--test-reporter=spec", "compat.test.mjs"], cwd=NODE_TESTS, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"node --test failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    summary = dict(re.findall(r"ℹ (tests|pass|fail) (\d+)", run.stdout))
    assert summary.get("fail") == "0" and int(summary.get("pass", 0)) >= 18, run.stdout[-2000:]
