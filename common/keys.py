"""The Redis key and channel layout, written once.

Every key tiergate reads or writes is named here, so a grep for a prefix finds
every user of it.
"""

PREFIX = "tiergate"

#: Channel every worker process subscribes to; the payload is a job id to cancel.
CANCEL_CHANNEL = f"{PREFIX}:cancel"

#: Celery task that runs one completion job (the API enqueues it without importing Celery).
COMPLETE_TASK = "tiergate.complete"


def reply_channel(api_instance: str) -> str:
    """Channel one API process listens on for the events of all its jobs."""
    return f"{PREFIX}:reply:{api_instance}"


def cancelled_flag(job_id: str) -> str:
    """Set when a job's client went away, so a worker that has not started it yet drops it."""
    return f"{PREFIX}:cancelled:{job_id}"


def worker_heartbeat(tier: str) -> str:
    """Sorted set of live worker ids consuming a tier, scored by their last heartbeat (epoch s)."""
    return f"{PREFIX}:workers:{tier}"


def sim_stats() -> str:
    return f"{PREFIX}:sim:stats"


# --- model health, shared by every worker process (workers/resilience.py) and shown by GET /ai/models ---


def model_cooldown(model: str) -> str:
    """String: epoch second at which a model's cooldown ends; it outlives that moment until a probe settles it."""
    return f"{PREFIX}:cooldown:{model}"


def model_probe(model: str) -> str:
    """Lease held by the one worker sending the probe request to a model whose cooldown has run out."""
    return f"{PREFIX}:probe:{model}"


def model_failures(model: str) -> str:
    """Counter of a model's recent failures, expiring with the counting window."""
    return f"{PREFIX}:fails:{model}"


def model_latency(model: str) -> str:
    """List of a model's recent latencies in seconds (newest first), for the latency routing strategy."""
    return f"{PREFIX}:latency:{model}"
