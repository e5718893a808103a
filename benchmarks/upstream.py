"""The upstreams the benchmark points gateways at: an nginx mock that answers at once, and the simulator.

nginx answers from memory in a few microseconds on one core, so in the "upstream answering at once" scenario
every millisecond measured belongs to the gateway. The simulator (Python) is used only where the upstream
must wait (1.5 s answers, 300 ms to the first token), which costs it almost no CPU.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from benchmarks.procs import pinned

ANSWER = "Olá! O prazo de entrega para São Paulo é de 2 a 3 dias úteis."
#: Content chunks in the mock stream; with the finish and usage chunks the stream has 22 data events.
STREAM_TOKENS = 20


def mock_completion() -> dict[str, object]:
    return {"id": "chatcmpl-mock", "object": "chat.completion", "created": 1700000000, "model": "gpt-3.5-turbo",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 14, "completion_tokens": STREAM_TOKENS, "total_tokens": 14 + STREAM_TOKENS}}


def mock_stream() -> str:
    """An OpenAI stream as api.openai.com writes it with include_usage: content chunks, finish, usage, [DONE]."""
    words = ANSWER.split(" ")
    pieces = [(" " if i else "") + words[i % len(words)] for i in range(STREAM_TOKENS)]

    def chunk(delta: dict[str, object], finish: str | None = None) -> str:
        return json.dumps({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000,
                           "model": "gpt-3.5-turbo", "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                                   "finish_reason": finish}]},
                          ensure_ascii=False, separators=(",", ":"))

    events = [chunk({"role": "assistant", "content": p} if i == 0 else {"content": p}) for i, p in enumerate(pieces)]
    events.append(chunk({}, "stop"))
    events.append(json.dumps({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000,
                              "model": "gpt-3.5-turbo", "choices": [], "usage": mock_completion()["usage"]},
                             separators=(",", ":")))
    return "".join(f"data: {e}\n\n" for e in events) + "data: [DONE]\n\n"


def _nginx_string(text: str) -> str:
    """A single-quoted nginx string (nginx unescapes \\' and \\\\ inside it)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _nginx_pieces(text: str, size: int = 3000) -> str:
    """`set` the text in pieces and return their concatenation: one nginx token holds at most 4 KB."""
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    sets = "".join(f"            set $p{i} {_nginx_string(p)};\n" for i, p in enumerate(pieces))
    return sets + "            return 200 \"" + "".join(f"${{p{i}}}" for i in range(len(pieces))) + "\";"


def nginx_conf(workdir: Path, port: int) -> str:
    whole = json.dumps(mock_completion(), ensure_ascii=False, separators=(",", ":"))
    temp = workdir / "nginx-tmp"
    return f"""
master_process off;
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_buffer_size 256k;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /sync/v1/chat/completions {{
            default_type application/json;
            return 200 {_nginx_string(whole)};
        }}
        location = /stream/v1/chat/completions {{
            default_type text/event-stream;
{_nginx_pieces(mock_stream())}
        }}
    }}
}}
"""


def ensure_binary(name: str, package: str) -> str:
    """Debian's package when the binary is missing (the benchmark machine is a disposable container)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, stdout=subprocess.DEVNULL,
                   env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    found = shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError(f"{name} not found after installing {package}")
    return found


def start_nginx(workdir: Path, port: int, cpu: int) -> subprocess.Popen[bytes]:
    binary = ensure_binary("nginx", "nginx-light")
    (workdir / "nginx-tmp").mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_conf(workdir, port))
    process = pinned(cpu, [binary, "-p", str(workdir), "-c", str(conf)], workdir / "nginx.log")
    wait_post(f"http://127.0.0.1:{port}/sync/v1/chat/completions", process)
    return process


def wait_post(url: str, process: subprocess.Popen[bytes], seconds: float = 15.0,
              headers: dict[str, str] | None = None, body: dict[str, object] | None = None) -> None:
    """Until `url` answers a POST with 200 (or `process` dies)."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} while starting")
        try:
            response = httpx.post(url, json=body or {"model": "x", "messages": [{"role": "user", "content": "oi"}]},
                                  headers=headers, timeout=5)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {seconds:.0f}s (last: {last})")
