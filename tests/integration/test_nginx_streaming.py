"""The nginx configuration of docs/operations.md, run as written in front of a gateway: a stream's tokens reach
the client as they are generated, not all at once at the end."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.local_redis import free_port
from tests.harness import ROOT, Gateway, apt_install, stop_process, wait_http

pytestmark = pytest.mark.integration


def _documented_block() -> str:
    found = re.search(r"```nginx\n(.*?)```", (ROOT / "docs" / "operations.md").read_text(), re.S)
    assert found, "docs/operations.md has no nginx block"
    return found.group(1)


@pytest.fixture
def nginx(gateway: Gateway, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        apt_install("nginx")
        binary = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    assert binary, "nginx is not installed"
    port = free_port()
    block = _documented_block().replace("127.0.0.1:4000", f"127.0.0.1:{gateway.api_port}")
    block = block.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    temp = "".join(f"{name}_temp_path {tmp_path / name};\n"
                   for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    head = f"daemon off;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
    (tmp_path / "nginx.conf").write_text(f"{head}http {{\naccess_log off;\n{temp}{block}\n}}\n")
    process = subprocess.Popen([binary, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c",
                                str(tmp_path / "nginx.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health/liveness", processes=[process], log=tmp_path / "error.log")  # type: ignore[list-item]
    yield url
    stop_process(process)  # type: ignore[arg-type]


def test_a_stream_through_the_documented_nginx_arrives_token_by_token(nginx: str, gateway: Gateway) -> None:
    body = {"model": "tier1", "stream": True,
            "messages": [{"role": "user", "content": "Olá! [sim ttft_ms=0 token_delay_ms=300 tokens=8]"}]}
    arrivals: list[float] = []
    started = time.monotonic()
    with httpx.stream("POST", f"{nginx}/ai/chat/completions", json=body, headers=gateway.headers(),
                      timeout=60) as response:
        assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.read()[:500]!r}"
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"' in line:
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) >= 6, arrivals
    spread = arrivals[-1] - arrivals[0]
    assert spread > 1.2, f"the tokens arrived together ({arrivals}): nginx buffered the stream"
    sync = httpx.post(f"{nginx}/ai/chat/completions", headers=gateway.headers(), timeout=60,
                      json={"messages": [{"role": "user", "content": "Olá!"}]})
    assert sync.status_code == 200 and sync.headers["x-request-id"], \
        f"got {sync.status_code}: {sync.text[:500]}"
