"""A Redis for one machine: the one at REDIS_URL when it answers, else a `redis-server` child, else an
in-process Redis-protocol server (fakeredis), so `tiergate up` needs nothing but Python."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, timeout: float = 0.5) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.exceptions.RedisError, OSError):
        return False


@dataclass
class LocalRedis:
    url: str
    origin: str  # "existing", "redis-server", "embedded"
    process: subprocess.Popen[bytes] | None = None
    _server: Any = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        if self._server is not None:
            self._server.shutdown()


def start_redis_server(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server")
    return subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until_answers(url: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not answers(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis at {url} did not answer within {seconds:.0f}s")
        time.sleep(0.05)


def find_or_start(url: str) -> LocalRedis:
    if answers(url):
        return LocalRedis(url, "existing")
    port = free_port()
    local = f"redis://127.0.0.1:{port}/0"
    if shutil.which("redis-server"):
        process = start_redis_server(port)
        wait_until_answers(local)
        return LocalRedis(local, "redis-server", process)
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wait_until_answers(local)
    return LocalRedis(local, "embedded", _server=server)
