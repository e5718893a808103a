"""`tiergate up` as a user runs it: one command, a working gateway, Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from cli.local_redis import free_port
from tests.harness import ROOT, ensure_redis_server

pytestmark = pytest.mark.integration


def _read_until(process: subprocess.Popen[str], pattern: str, seconds: float) -> str:
    seen = ""
    deadline = time.monotonic() + seconds
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen += line
        if re.search(pattern, seen):
            return seen
    raise AssertionError(f"`tiergate up` never printed {pattern!r}; it printed:\n{seen[-3000:]}")


def _port_answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health/liveness", timeout=0.5)
        return True
    except httpx.HTTPError:
        return False


def _start_up(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "up", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _fresh_user_env(**extra: str) -> dict[str, str]:
    """A user's shell with no provider key, no master key, and nothing listening at REDIS_URL."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "LITELLM_MASTER_KEY"}
    env.update(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", PYTHONUNBUFFERED="1", **extra)
    return env


def _chat_sync_and_streaming(base: str, key: str) -> None:
    """A sync and a streaming chat through the official SDK, for an organization with a plan (rate windows,
    concurrency and budget reservations: every admission script runs), and a cached repeat."""
    sdk = openai.OpenAI(base_url=f"{base}/ai", api_key=key, max_retries=0)
    body = {"messages": [{"role": "user", "content": "Olá! Vocês entregam em Curitiba?"}],
            "extra_body": {"metadata": {"organization_id": "org_123", "user_id": "u1"}}}
    answer = sdk.chat.completions.create(model="auto", temperature=0, **body)  # type: ignore[call-overload]
    assert answer.choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
        model="auto", stream=True, **body) if c.choices)  # type: ignore[call-overload]
    assert streamed == answer.choices[0].message.content
    again = sdk.chat.completions.with_raw_response.create(model="auto", temperature=0, **body)  # type: ignore
    assert again.headers["x-gateway-cache"] == "HIT" and again.parse().choices[0].message.content == streamed


def test_up_with_no_redis_anywhere_serves_sync_and_streaming_chats_on_its_embedded_redis() -> None:
    bin_dir = str(Path(sys.executable).parent)  # the virtual environment only: no redis-server on PATH
    assert shutil.which("redis-server", path=bin_dir) is None
    port = free_port()
    process = _start_up(_fresh_user_env(PATH=bin_dir), "--port", str(port), "--concurrency", "20")
    try:
        banner = _read_until(process, r"Ctrl-C stops everything", 90)
        assert "(embedded)" in banner, f"with no Redis and no redis-server, up must embed one:\n{banner}"
        base = f"http://127.0.0.1:{port}"
        _chat_sync_and_streaming(base, "sk-master-key")
        # The ledger writer drains the embedded Redis's stream into the records (consumer groups work there too).
        headers = {"authorization": "Bearer sk-master-key"}
        asked = httpx.post(f"{base}/ai/chat/completions", headers=headers, timeout=30,
                           json={"messages": [{"role": "user", "content": "Olá!"}]})
        audit = f"{base}/ai/admin/audit?request_id={asked.headers['x-request-id']}"
        deadline = time.monotonic() + 20
        while not httpx.get(audit, headers=headers, timeout=5).json()["data"]:
            assert time.monotonic() < deadline, "the request's audit record never reached the records"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    assert code == 0, f"up exited with {code} after Ctrl-C"


#: What `up` may print: its banner, then (with --log-requests) our own log lines: one per request, and the
#: workers' warnings about provider failures (each with its request id).
OUR_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) tiergate\.(requests|worker) ")


def _banner_port(banner: str, label: str) -> int:
    found = re.search(rf"{label}\s+http://127\.0\.0\.1:(\d+)", banner)
    assert found, f"up did not print its {label.strip(':')} address:\n{banner}"
    return int(found.group(1))


def _drive_every_kind_of_request(base: str) -> list[str]:
    """A sync chat, a stream, a stream the provider cuts, a stream its client leaves, a refused key; their ids."""
    headers = {"authorization": "Bearer sk-master-key"}
    chat = f"{base}/ai/chat/completions"
    ids = []

    def body(text: str, stream: bool = False) -> dict[str, object]:
        return {"messages": [{"role": "user", "content": text}], "stream": stream,
                "metadata": {"organization_id": "org_123"}}

    ids.append(httpx.post(chat, headers=headers, json=body("Olá!"), timeout=30).headers["x-request-id"])
    for text in ("Olá!", "Olá! [sim cut_after=3]"):
        with httpx.stream("POST", chat, headers=headers, json=body(text, stream=True), timeout=30) as response:
            assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.read()[:500]!r}"
            assert "[DONE]" in response.read().decode()
            ids.append(response.headers["x-request-id"])
    with httpx.stream("POST", chat, headers=headers, json=body("Olá! [sim token_delay_ms=200]", stream=True),
                      timeout=30) as response:
        ids.append(response.headers["x-request-id"])
        next(response.iter_bytes())  # then the client leaves mid-answer
    refused = httpx.post(chat, headers={"authorization": "Bearer sk-wrong"}, json=body("Olá!"), timeout=30)
    assert refused.status_code == 401, f"expected 401, got {refused.status_code}: {refused.text[:500]}"
    ids.append(refused.headers["x-request-id"])
    return ids


def test_two_ups_on_one_machine_pick_their_own_free_ports_and_print_only_their_own_lines(tmp_path: Path) -> None:
    ensure_redis_server()
    ups: list[subprocess.Popen[str]] = []
    banners: list[str] = []
    outputs = ["", ""]
    try:
        for name in ("a", "b"):  # the second starts while the first runs, as a user would
            ups.append(_start_up(_fresh_user_env(), "--log-requests", "--concurrency", "20",
                                 "--data-dir", str(tmp_path / name)))
            banners.append(_read_until(ups[-1], r"Ctrl-C stops everything", 90))
        ports = [(_banner_port(b, "API:"), _banner_port(b, "by the simulator at")) for b in banners]
        assert len({port for pair in ports for port in pair}) == 4, f"two ups share a port: {ports}"
        for banner in banners:
            assert re.search(r"simulated:\s+tier1/gemini-flash, tier1/llama-3.2-3b, .*tier4/gpt-4-turbo", banner)
            assert "master key: sk-master-key" in banner
        base = f"http://127.0.0.1:{ports[0][0]}"
        ready = httpx.get(f"{base}/health/readiness", timeout=5).json()
        assert "tier3/claude-sonnet" in ready["simulated_models"], ready
        models = httpx.get(f"{base}/ai/models", headers={"authorization": "Bearer sk-master-key"}, timeout=5).json()
        assert all(m["simulated"] for m in models["data"])
        ids = _drive_every_kind_of_request(base)
        second = httpx.post(f"http://127.0.0.1:{ports[1][0]}/ai/chat/completions",
                            headers={"authorization": "Bearer sk-master-key"},
                            json={"messages": [{"role": "user", "content": "Olá!"}]}, timeout=30)
        assert second.status_code == 200, second.text
        outputs[0] = _read_until(ups[0], "|".join(ids[-1:]), 20)  # the last request's line
    finally:
        for up in ups:
            up.send_signal(signal.SIGINT)
        for index, up in enumerate(ups):
            outputs[index] += up.communicate(timeout=30)[0]
    for up, output in zip(ups, outputs, strict=True):
        assert up.returncode == 0, f"up exited with {up.returncode}:\n{output[-3000:]}"
    printed = banners[0] + outputs[0]
    after_banner = printed.split("Ctrl-C stops everything.", 1)[1]
    foreign = [line for line in after_banner.splitlines() if line.strip() and not OUR_LOG_LINE.match(line)]
    assert not foreign, "up printed lines that are not its own:\n" + "\n".join(foreign)
    assert printed.lstrip().startswith("tiergate is up"), f"up printed something before its banner:\n{printed[:2000]}"
    request_lines = [line for line in after_banner.splitlines() if " tiergate.requests " in line]
    for request_id in ids:
        assert sum(request_id in line for line in request_lines) == 1, f"not one line for {request_id}:\n{printed}"
    cut = next(line for line in request_lines if ids[2] in line)
    left = next(line for line in request_lines if ids[3] in line)
    assert " 502 " in cut and " 499 " in left and "invalid_api_key" in request_lines[-1], "\n".join(request_lines)


def test_up_starts_redis_simulator_workers_and_api_answers_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    ensure_redis_server()
    port, sim_port, dead_redis = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and k not in ("LITELLM_MASTER_KEY", "DATABASE_URL")}
    env.update(REDIS_URL=f"redis://127.0.0.1:{dead_redis}/0", PYTHONUNBUFFERED="1")  # nothing answers there
    data_dir = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "up", "--port", str(port), "--sim-port",
                                str(sim_port), "--concurrency", "20", "--data-dir", str(data_dir)], cwd=ROOT,
                               env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        banner = _read_until(process, r"Ctrl-C stops everything", 90)
        key = re.search(r"master key: (\S+)", banner).group(1)  # type: ignore[union-attr]
        assert "(redis-server)" in banner, "with no Redis at REDIS_URL, up must start its own"
        assert str(data_dir / "tiergate.db") in banner and (data_dir / "tiergate.db").exists(), \
            "with no DATABASE_URL, up keeps its records in a SQLite file in --data-dir"
        assert f"curl http://127.0.0.1:{port}/ai/chat/completions" in banner

        sdk = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/ai", api_key=key, max_retries=0)
        answer = sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Olá!"}])
        assert answer.choices[0].message.content
        streamed = "".join(c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "Olá!"}], stream=True) if c.choices)
        assert streamed == answer.choices[0].message.content
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    assert code == 0, f"up exited with {code} after Ctrl-C"
    assert not _port_answers(port), "the API still answers after Ctrl-C"
    assert not _port_answers(sim_port), "the simulator still answers after Ctrl-C"
    leftovers = subprocess.run(["pgrep", "-f", f"--port {port}|--port {sim_port}"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", f"child processes left running: {leftovers.stdout}"


def test_up_with_a_bad_config_stops_with_the_file_key_path_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    config = (ROOT / "config" / "litellm_config.yaml").read_text()
    bad.write_text(config.replace('tier1/llama-3.2-3b: ["tier1/gemini-flash"]', 'tier1/llama-3.2-3b: ["tier1/nope"]'))
    result = subprocess.run([sys.executable, "-m", "cli.main", "up", "--config", str(bad)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "litellm_settings.fallbacks" in result.stderr and "tier1/nope" in result.stderr
