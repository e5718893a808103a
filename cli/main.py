"""`tiergate`: run the gateway, one of its roles, or its tools."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import warnings

from cli.audit_commands import add_audit_commands
from cli.db_commands import DatabaseUnready, add_database_options, add_db_commands, ready
from cli.routing_commands import add_routing_commands
from cli.simulation_guard import SIMULATE_MISSING_ENV, refusal, simulate_missing_default
from common import logs
from common.logs import REQUEST_LOG_ENV
from common.metrics_env import MULTIPROC_ENV, prepare_multiprocess_dir
from config import ConfigError, Settings, load_settings

DEFAULT_METRICS_PORT = 9100
FLOWER_AUTH_ENV = "FLOWER_BASIC_AUTH"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiergate", description="LLM gateway: the cheapest tier that answers well")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="everything on one machine: Redis, API, workers, simulator")
    up.add_argument("--port", type=int, default=int(os.environ["PORT"]) if os.environ.get("PORT") else None,
                    help="API port (default: 4000 when free, else a free one)")
    up.add_argument("--config", default=os.environ.get("TIERGATE_CONFIG"))
    up.add_argument("--sim-port", type=int, default=None, help="simulator port (default: a free one)")
    up.add_argument("--log-requests", action="store_true", help="print one line per request")
    add_log_format_option(up)
    up.add_argument("--concurrency", type=int, default=1000,
                    help="provider calls the worker holds at once (asyncio holds calls of seconds cheaply)")
    add_database_options(up)
    up.set_defaults(run=_run_up)

    api = sub.add_parser("api", help="the HTTP front door alone")
    api.add_argument("--host", default="0.0.0.0")
    api.add_argument("--port", type=int, default=int(os.environ.get("PORT", 4000)))
    api.add_argument("--workers", type=int, default=1, help="API processes behind the port")
    api.add_argument("--config", default=os.environ.get("TIERGATE_CONFIG"))
    api.add_argument("--grace", type=float, default=float(os.environ.get("TIERGATE_SHUTDOWN_GRACE", 30)),
                     help="on SIGTERM: seconds open requests and streams get to finish")
    api.add_argument("--log-requests", action=argparse.BooleanOptionalAction, default=True,
                     help="log one line per request (default: on)")
    add_log_format_option(api)
    add_quiet_and_simulation_options(api)
    add_database_options(api)
    api.set_defaults(run=_run_api)

    worker = sub.add_parser("worker", help="a worker for the named tier queues (Celery's -Q, -c, -E)")
    worker.add_argument("--tiers", default="tier1,tier2,tier3,tier4", help="the tier queues it takes jobs from")
    worker.add_argument("--concurrency", type=int, default=None,
                        help="jobs it holds at once (default: 1000; provider calls last seconds)")
    worker.add_argument("--events", action="store_true",
                        help="send Celery task events (Flower's Tasks page, `celery events`)")
    worker.add_argument("--config", default=os.environ.get("TIERGATE_CONFIG"))
    worker.add_argument("--loglevel", default="info")
    worker.add_argument("--grace", type=float, default=float(os.environ.get("TIERGATE_SHUTDOWN_GRACE", 60)),
                        help="on SIGTERM: seconds running jobs get to finish; none is taken meanwhile")
    worker.add_argument("--metrics-port", type=int,
                        default=int(os.environ["TIERGATE_METRICS_PORT"]) if os.environ.get("TIERGATE_METRICS_PORT")
                        else None, help=f"port of this worker's /metrics (default {DEFAULT_METRICS_PORT}, else free)")
    add_log_format_option(worker)
    add_quiet_and_simulation_options(worker)
    add_database_options(worker)
    worker.set_defaults(run=_run_worker)

    sim = sub.add_parser("sim", help="the provider simulator alone")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=4010)
    sim.add_argument("--ttft-ms", type=float, default=None)
    sim.add_argument("--token-delay-ms", type=float, default=None)
    sim.add_argument("--config", default=os.environ.get("TIERGATE_CONFIG"))
    sim.set_defaults(run=_run_sim)

    flower = sub.add_parser("flower", help="Flower on the tier queues, behind basic auth (FLOWER_BASIC_AUTH)")
    flower.add_argument("--port", type=int, default=5555)
    flower.add_argument("--address", default="0.0.0.0")
    flower.set_defaults(run=_run_flower)

    add_audit_commands(sub)
    add_db_commands(sub)

    add_routing_commands(sub)

    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        os.environ["TIERGATE_CONFIG"] = args.config
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"tiergate: bad configuration: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnready as exc:
        print(f"tiergate: {exc}", file=sys.stderr)
        return 2


def add_log_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-format", choices=["text", "json"], default=os.environ.get("TIERGATE_LOG_FORMAT", "text"),
                        help="text: a readable line per event; json: one JSON object per line")


def add_quiet_and_simulation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--simulate-missing", action="store_true", default=simulate_missing_default(),
                        help=f"let the simulator answer for models with no key (or {SIMULATE_MISSING_ENV}=1)")
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # `up`: no banners


def _refuse_silent_simulation(settings: Settings, args: argparse.Namespace) -> bool:
    reason = refusal(settings, args.command, args.simulate_missing)
    if reason:
        print(reason, file=sys.stderr)
    return reason is not None


def _run_up(args: argparse.Namespace) -> int:
    from cli.up import run_up

    return run_up(args)


def _run_api(args: argparse.Namespace) -> int:
    import uvicorn

    settings = load_settings()
    if _refuse_silent_simulation(settings, args):
        return 2
    if settings.server.production and not settings.general_settings.master_key:
        print("tiergate: production mode needs LITELLM_MASTER_KEY", file=sys.stderr)
        return 2
    ready(args)
    if not settings.general_settings.master_key:
        print("tiergate: no master key (LITELLM_MASTER_KEY); every request will get 401", file=sys.stderr)
    if args.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Several API processes behind one port: /metrics must add up all of them.
        prepare_multiprocess_dir(tempfile.mkdtemp(prefix="tiergate-metrics-"))
    # Through the environment: uvicorn's worker processes configure their logging from it (api/app.py).
    os.environ[logs.FORMAT_ENV] = args.log_format
    os.environ[logs.LEVEL_ENV] = "WARNING" if args.quiet else os.environ.get(logs.LEVEL_ENV, "INFO")
    os.environ[REQUEST_LOG_ENV] = "1" if args.log_requests else "0"
    logs.configure()
    from api.http_limits import PROTOCOL  # httptools with header size and time limits

    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                loop="uvloop", http=PROTOCOL, log_level="warning", access_log=False, lifespan="on",
                timeout_graceful_shutdown=args.grace)
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    if _refuse_silent_simulation(load_settings(), args):  # and a bad config fails before Celery starts
        return 2
    ready(args)
    os.environ["TIERGATE_SHUTDOWN_GRACE"] = str(args.grace)
    os.environ[logs.FORMAT_ENV] = args.log_format
    logs.configure(level=args.loglevel)
    _serve_metrics(args.metrics_port)
    from celery.exceptions import SecurityWarning

    from workers.celery_app import app

    tiers = args.tiers.replace(" ", "")
    if args.quiet:  # under `up`: no banner, and no warning about root meant for a production host
        warnings.filterwarnings("ignore", category=SecurityWarning)
    argv = [*(["--quiet"] if args.quiet else []), "worker", "-Q", tiers,  # the app's pool: workers/pool.py
            "-n", f"tiergate-{tiers.replace(',', '-')}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
            "-l", args.loglevel]
    if args.concurrency:
        argv += ["-c", str(args.concurrency)]
    if args.events:
        argv.append("-E")
    app.worker_main(argv)
    return 0


def _serve_metrics(pinned: int | None) -> None:
    """Every worker is its own scrape target (Prometheus finds replicas by DNS): on the pinned port, else on
    9100, or any free port (logged) when another worker on this host holds 9100."""
    from prometheus_client import REGISTRY, start_http_server

    from common.metrics import scrape_registry

    registry = scrape_registry() or REGISTRY
    if pinned:
        start_http_server(pinned, registry=registry)
        return
    try:
        start_http_server(DEFAULT_METRICS_PORT, registry=registry)
    except OSError:
        server, _ = start_http_server(0, registry=registry)
        logging.getLogger("tiergate.worker").warning("port %d is taken: this worker's metrics are on :%d/metrics",
                                                     DEFAULT_METRICS_PORT, server.server_port)


def _run_flower(args: argparse.Namespace) -> int:
    """Flower shows every queue and task and can shut workers down: it is never served without a password."""
    auth = os.environ.get(FLOWER_AUTH_ENV, "")
    user, _, password = auth.partition(":")
    if not user or not password:
        print(f"tiergate flower: set {FLOWER_AUTH_ENV}=user:password (Flower is not served without one)",
              file=sys.stderr)
        return 2
    from workers.celery_app import app

    # Flower reads FLOWER_BASIC_AUTH itself: the password stays out of the process list.
    return int(app.start(["flower", f"--port={args.port}", f"--address={args.address}"]) or 0)


def _run_sim(args: argparse.Namespace) -> int:
    import uvicorn

    from simulator.app import create_sim_app

    sim_settings = load_settings().simulator
    ttft = sim_settings.ttft_ms if args.ttft_ms is None else args.ttft_ms
    delay = sim_settings.token_delay_ms if args.token_delay_ms is None else args.token_delay_ms
    config = uvicorn.Config(create_sim_app(ttft_ms=ttft, token_delay_ms=delay), host=args.host, port=args.port,
                            loop="uvloop", http="httptools", log_level="warning", access_log=False)
    logging.getLogger("uvicorn.error").addFilter(_CutStreamsAreTheSimulatorsJob())
    uvicorn.Server(config).run()
    return 0


class _CutStreamsAreTheSimulatorsJob(logging.Filter):
    """A `cut_after` directive ends a stream unfinished on purpose; uvicorn would report each one as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


if __name__ == "__main__":
    sys.exit(main())
