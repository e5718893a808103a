"""The README's examples work as written against a running gateway (only the port differs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT, Gateway

pytestmark = pytest.mark.integration

README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _on_gateway(code: str, gateway: Gateway) -> str:
    return code.replace("localhost:4000", f"127.0.0.1:{gateway.api_port}")


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_the_python_example_runs_and_prints_an_answer(gateway: Gateway, index: int, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_on_gateway(_blocks("python")[index], gateway))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "tier1/" in result.stdout and len(result.stdout.strip()) > 40, result.stdout


def test_the_curl_example_answers(gateway: Gateway) -> None:
    curl = next(block for block in _blocks("bash") if block.startswith("curl"))
    result = subprocess.run(["bash", "-c", _on_gateway(curl, gateway)], capture_output=True, text=True, timeout=60)
    assert '"object":"chat.completion"' in result.stdout, result.stdout + result.stderr


def test_the_node_streaming_example_prints_the_streamed_text(gateway: Gateway, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed to check the README's JavaScript example"
    script = tmp_path / "example.mjs"
    script.write_text(_on_gateway(_blocks("javascript")[0], gateway))
    result = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 40, result.stdout
