"""docker-compose.yml, deploy/prometheus.yml and the Procfile are production-shaped and agree (parsed here: no
Docker engine is needed)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from typing import Any

import yaml

from tests.harness import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
WORKERS = [f"worker_tier{n}" for n in range(1, 5)]
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]*\}$")  # ${NAME:?message}: compose refuses to start without it


def _procfile() -> dict[str, list[str]]:
    roles = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            roles[name.strip()] = shlex.split(command)
    return roles


def _flag(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def _required_variable(value: str) -> str | None:
    found = REQUIRED.match(str(value))
    return found.group(1) if found else None


def test_the_simulator_runs_only_in_the_dev_profile_and_nothing_simulates_by_default() -> None:
    simulators = [name for name, s in SERVICES.items() if s.get("command", [])[:2] == ["tiergate", "sim"]]
    assert simulators == ["simulator"]
    assert SERVICES["simulator"]["profiles"] == ["dev"]
    for name in ["api", *WORKERS]:
        assert SERVICES[name]["environment"]["TIERGATE_SIMULATE_MISSING"] == "${TIERGATE_SIMULATE_MISSING:-}"
        assert "--simulate-missing" not in SERVICES[name]["command"]
    assert not any("--simulate-missing" in command or command[1] == "sim" for command in _procfile().values())


def test_flower_is_behind_basic_auth_and_grafana_has_an_admin_password_from_the_environment() -> None:
    flower = SERVICES["flower"]
    assert flower["command"][:2] == ["tiergate", "flower"]
    assert _required_variable(flower["environment"]["FLOWER_BASIC_AUTH"]) == "FLOWER_BASIC_AUTH"
    grafana = SERVICES["grafana"]["environment"]
    assert _required_variable(grafana["GF_SECURITY_ADMIN_PASSWORD"]) == "GRAFANA_ADMIN_PASSWORD"
    assert grafana.get("GF_AUTH_ANONYMOUS_ENABLED", "false") == "false"
    assert _procfile()["flower"][:2] == ["tiergate", "flower"]


def test_redis_is_private_with_a_password_and_an_append_only_file_on_a_volume() -> None:
    redis = SERVICES["redis"]
    assert "ports" not in redis, "Redis must not be published on the host"
    command = redis["command"]
    assert _flag(command, "--appendonly") == "yes" and _required_variable(_flag(command, "--requirepass") or "")
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_every_worker_serves_its_metrics_and_prometheus_finds_every_replica_by_dns() -> None:
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    assert all("static_configs" not in job for job in jobs.values()), "static targets miss scaled replicas"
    workers = jobs["tiergate-workers"]["dns_sd_configs"]
    found = {name: sd["port"] for sd in workers for name in sd["names"]}
    for name in WORKERS:
        port = _flag(SERVICES[name]["command"], "--metrics-port")
        assert port is not None and found[name] == int(port), (name, port, found)
    api = jobs["tiergate-api"]
    assert api["dns_sd_configs"][0]["names"] == ["api"]
    assert api["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert COMPOSE["secrets"]["metrics_token"]["environment"] == "TIERGATE_METRICS_TOKEN"
    assert "metrics_token" in SERVICES["prometheus"]["secrets"]


def test_the_procfile_runs_the_same_roles_with_the_same_tiers_and_concurrency_as_compose() -> None:
    procfile = _procfile()
    assert {"api", *WORKERS, "flower"} <= set(procfile)
    assert _flag(procfile["api"], "--workers") == _flag(SERVICES["api"]["command"], "--workers")
    for name in WORKERS:
        compose, proc = SERVICES[name]["command"], procfile[name]
        assert proc[:2] == compose[:2] == ["tiergate", "worker"]
        for flag in ("--tiers", "--concurrency"):
            assert _flag(proc, flag) == _flag(compose, flag), (name, flag)
    assert procfile["release"] == SERVICES["migrate"]["command"]


def test_tiergate_flower_refuses_to_start_without_a_password() -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", "flower"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "FLOWER_BASIC_AUTH": "admin:"}, timeout=60)
    assert result.returncode == 2 and "FLOWER_BASIC_AUTH=user:password" in result.stderr
