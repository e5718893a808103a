"""The systems under test, each started pinned to the system core and pointed at the same upstreams:
tiergate (Redis, API, workers) and, when a path to one is given, the LiteLLM proxy."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.procs import pinned, stop, tree
from benchmarks.upstream import wait_post
from cli.local_redis import free_port, wait_until_answers
from tests.databases import postgres_database
from tests.harness import DEFAULT_CONFIG, ROOT, ensure_redis_server

MASTER_KEY = "sk-bench-master"
#: The organization `--organization` acts for: every limit set, none of them reached, so admission runs in full
#: (windows, concurrency slot, budget reservation and its settlement) without refusing anything.
BENCH_ORGANIZATION = "bench_org"
BENCH_LIMITS = {"plan": "enterprise", "rpm": 100_000_000, "tpm": 100_000_000_000, "max_concurrent": 100_000,
                "monthly_budget_usd": 1_000_000_000}
#: The three kinds of upstream call the scenarios make.
KINDS = ("sync", "stream", "slow")


@dataclass
class Upstreams:
    mock: str  # nginx: /sync/v1 answers JSON at once, /stream/v1 a fixed 22-event stream
    sim: str   # the simulator: waits as each request's [sim ...] directive says

    def base(self, kind: str) -> str:
        return {"sync": f"{self.mock}/sync/v1", "stream": f"{self.mock}/stream/v1", "slow": f"{self.sim}/v1"}[kind]


@dataclass
class System:
    """A gateway under test: where to POST, with which key, which model name reaches which upstream."""

    name: str
    workdir: Path
    cpu: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    port: int = 0

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {MASTER_KEY}"}

    def model(self, kind: str) -> str:
        raise NotImplementedError

    def extra_body(self) -> dict[str, Any]:
        """Fields this system's requests carry beside the OpenAI body."""
        return {}

    def pids(self) -> dict[str, int]:
        """Every process of the system (role → pid), children included."""
        found: dict[str, int] = {}
        for role, process in self.processes.items():
            for index, pid in enumerate(tree(process.pid)):
                if _is_taskset_wrapper(pid):
                    continue
                found[role if index == 0 or role not in found else f"{role}.{pid}"] = pid
        return found

    def stop(self) -> None:
        for process in self.processes.values():
            stop(process)


def _is_taskset_wrapper(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "taskset"
    except OSError:
        return True


# --- tiergate ----------------------------------------------------------------------------------------

#: Which configured model each kind of call pins (all OpenAI-protocol models, so the mock's answer fits).
TIERGATE_MODELS = {"sync": "tier2/gpt-3.5-turbo", "stream": "tier3/gpt-4", "slow": "tier4/gpt-4-turbo"}


@dataclass
class Tiergate(System):
    api_processes: int = 1
    workers: int = 1
    worker_concurrency: int = 400
    worker_args: list[str] = field(default_factory=list)
    redis_socket: bool = False  # API and workers reach Redis over a Unix socket instead of TCP loopback
    root: Path = ROOT  # the checkout to run: another one (a git worktree) measures a change side by side
    organization: bool = False  # act for BENCH_ORGANIZATION (plan limits and budget) instead of the operator
    #: the records' database: a PostgreSQL database of its own (tests/databases.py), dropped when it stops
    _database: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ai/chat/completions"

    def model(self, kind: str) -> str:
        return TIERGATE_MODELS[kind]

    def extra_body(self) -> dict[str, Any]:
        return {"metadata": {"organization_id": BENCH_ORGANIZATION}} if self.organization else {}

    def start(self, upstreams: Upstreams) -> Tiergate:
        ensure_redis_server()
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "tiergate.log"
        redis_port, self.port = free_port(), free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        socket_args: list[str] = []
        if self.redis_socket:
            socket_path = self.workdir / "redis.sock"
            socket_args = ["--unixsocket", str(socket_path), "--unixsocketperm", "700"]
        self.processes["redis"] = pinned(self.cpu, [shutil.which("redis-server") or "redis-server", "--port",
                                                    str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                                    "--appendonly", "no", *socket_args], log)
        wait_until_answers(redis_url)
        if self.redis_socket:
            redis_url = f"unix://{socket_path}?db=0"
            wait_until_answers(redis_url)
        config = self.workdir / "config.yaml"
        config.write_text(yaml.safe_dump(tiergate_config(upstreams, self.root), allow_unicode=True))
        # `python -m` puts the working directory first on sys.path: the processes run `root`'s code.
        # A tree from before the records moved to the database ignores DATABASE_URL.
        database = self._database.enter_context(postgres_database(migrate=False))
        if (self.root / "records").is_dir():  # migrated by the tree's own code: an older tree wants its revision
            subprocess.run([sys.executable, "-m", "cli.main", "db", "upgrade"], check=True, cwd=self.root,
                           env={**os.environ, "DATABASE_URL": database}, stdout=subprocess.DEVNULL)
        env = {**os.environ, "REDIS_URL": redis_url, "LITELLM_MASTER_KEY": MASTER_KEY,
               "TIERGATE_CONFIG": str(config), "PYTHONUNBUFFERED": "1", "DATABASE_URL": database,
               "TIERGATE_SIMULATE_MISSING": "1"}  # the models the benchmark does not point at its upstreams
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "TOGETHER_API_KEY", "GROQ_API_KEY"):
            env.pop(name, None)
        cli = [sys.executable, "-m", "cli.main"]
        for index in range(self.workers):
            self.processes[f"worker{index}"] = pinned(
                self.cpu, [*cli, "worker", "--concurrency", str(self.worker_concurrency), "--loglevel", "warning",
                           *self.worker_args], log, env=env, cwd=self.root)
        self.processes["api"] = pinned(self.cpu, [*cli, "api", "--host", "127.0.0.1", "--port", str(self.port),
                                                  "--workers", str(self.api_processes)], log, env=env, cwd=self.root)
        wait_post(self.url, self.processes["api"], seconds=60, headers=self.headers,
                  body={"model": self.model("sync"), "messages": [{"role": "user", "content": "oi"}]})
        return self

    def stop(self) -> None:
        super().stop()
        self._database.close()


def tiergate_config(upstreams: Upstreams, root: Path = ROOT) -> dict[str, Any]:
    """The default config of the tree `root` (an older tree refuses sections it does not know) with the
    benchmark's models pointed at the upstreams (the rest at the simulator)."""
    config = yaml.safe_load((root / DEFAULT_CONFIG.relative_to(ROOT)).read_text())
    config["simulator"] = {**config.get("simulator", {}), "url": upstreams.sim, "mode": "auto",
                           "ttft_ms": 0, "token_delay_ms": 0}
    for tier in config["tiers"].values():  # measure throughput, not the backlog limit's 503s
        tier["backlog_limit"] = 100_000
    config["organizations"] = {**(config.get("organizations") or {}), BENCH_ORGANIZATION: BENCH_LIMITS}
    for entry in config["model_list"]:
        for kind, name in TIERGATE_MODELS.items():
            if entry["model_name"] == name:
                entry["litellm_params"] = {**entry["litellm_params"], "api_base": upstreams.base(kind),
                                           "api_key": "sk-upstream"}
    return config


# --- LiteLLM -----------------------------------------------------------------------------------------


@dataclass
class LiteLLM(System):
    venv: Path = Path("/work/litellm-venv")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def model(self, kind: str) -> str:
        return f"bench-{kind}"

    def start(self, upstreams: Upstreams) -> LiteLLM:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.workdir / "litellm.yaml"
        config.write_text(yaml.safe_dump({
            "model_list": [{"model_name": self.model(kind),
                            "litellm_params": {"model": "openai/gpt-3.5-turbo", "api_base": upstreams.base(kind),
                                               "api_key": "sk-upstream"}} for kind in KINDS],
            "general_settings": {"master_key": MASTER_KEY},
            "litellm_settings": {"set_verbose": False, "drop_params": True},
        }))
        binary = self.venv / "bin" / "litellm"
        if not binary.exists():
            raise FileNotFoundError(f"{binary}: not a LiteLLM proxy venv (pip install 'litellm[proxy]' there)")
        # No network: the model cost map is read from the package, telemetry is off.
        env = {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.workdir),
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR",
               "LITELLM_MODE": "PRODUCTION"}
        self.processes["litellm"] = pinned(self.cpu, [str(binary), "--config", str(config), "--host", "127.0.0.1",
                                                      "--port", str(self.port), "--num_workers", "1"],
                                           self.workdir / "litellm.log", env=env, cwd=self.workdir)
        wait_post(self.url, self.processes["litellm"], seconds=180, headers=self.headers,
                  body={"model": self.model("sync"), "messages": [{"role": "user", "content": "oi"}]})
        time.sleep(1)
        return self
