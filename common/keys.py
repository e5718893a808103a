"""The Redis key and channel layout, written once.

Every key tiergate reads or writes is named here, so a grep for a prefix finds
every user of it.
"""

PREFIX = "tiergate"

#: Channel every worker process subscribes to; the payload is a job id to cancel.
CANCEL_CHANNEL = f"{PREFIX}:cancel"

#: Celery task that runs one completion job (the API enqueues it without importing Celery).
COMPLETE_TASK = "tiergate.complete"


def queue(tier: str) -> str:
    """List of a tier's waiting jobs (Celery task messages): kombu's Redis transport names it after the queue,
    so `celery -Q tier1` and Flower see the same list. LPUSH in, taken from the tail (common/lease.py)."""
    return tier


def reply_channel(api_instance: str) -> str:
    """Channel one API process listens on for the events of all its jobs."""
    return f"{PREFIX}:reply:{api_instance}"


def cancelled_flag(job_id: str) -> str:
    """Set when a job's client went away, so a worker that has not started it yet drops it."""
    return f"{PREFIX}:cancelled:{job_id}"


def worker_heartbeat(tier: str) -> str:
    """Sorted set of live worker ids consuming a tier, scored by their last heartbeat (epoch s)."""
    return f"{PREFIX}:workers:{tier}"


# --- operations: worker details, jobs in flight and their leases, recent outcomes (workers/, common/lease.py,
# common/inflight.py, api/inspection.py) ---


def worker_info(worker_id: str) -> str:
    """String: JSON of one worker process (host, pid, tiers, concurrency, active jobs), expiring with its
    heartbeat; its absence means the worker is gone and its jobs in flight are orphans."""
    return f"{PREFIX}:worker:{worker_id}"


def inflight(tier: str) -> str:
    """Hash job_id → the tier's jobs taken by a worker: a JSON line {worker, lease, started}, a newline, then the
    Celery task message as it was queued, written in the same step that took it off the queue (common/lease.py)."""
    return f"{PREFIX}:inflight:{tier}"


def leases(tier: str) -> str:
    """Hash job_id → lease of the tier's jobs in flight: the token of the worker holding it, then, once output
    went out, "token out" (such a job is failed, not re-run, when its worker dies). See common/lease.py."""
    return f"{PREFIX}:leases:{tier}"


def job_answer(job_id: str) -> str:
    """String: a sync job's answer event, kept a few seconds beside its publication, so that an API process whose
    reply subscription dropped (a Redis restart) still finds the answers published meanwhile (api/relay.py)."""
    return f"{PREFIX}:answer:{job_id}"


def settle_permit(job_id: str) -> str:
    """Set, briefly, by the worker whose lease ended a job: the one party allowed to count its usage."""
    return f"{PREFIX}:permit:{job_id}"


def stream_cut(job_id: str) -> str:
    """String: how a stream its API stopped relaying before its worker's last event ended there ("<status>
    <chunks> <model>"), or "lost" once a rescuer found its worker dead (common/lost_streams.py)."""
    return f"{PREFIX}:cut:{job_id}"


def streams_to_count() -> str:
    """Hash job_id → a lost stream's note and job message ("<status> <chunks> <model>\\n<message>"), from the
    moment one party knows both until its count is recorded: a watchdog counts what a dead process left."""
    return f"{PREFIX}:cuts-to-count"


def tier_outcomes(tier: str, second: int) -> str:
    """Hash of counts ("ok", "failed", "dropped", "redispatched") of a tier's jobs that ended in one epoch second."""
    return f"{PREFIX}:outcomes:{tier}:{second}"


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


# --- tenants, limits, money and the records (api/tenancy.py, api/ratelimit.py, common/usage.py, records/) ---

#: Stream of the records each request leaves (fields "usage" and/or "audit", JSON), until the ledger writer has
#: committed them to the database (records/ledger.py): what Redis loses with it is what was not drained yet.
LEDGER_STREAM = f"{PREFIX}:ledger"
#: The ledger writers' consumer group on LEDGER_STREAM.
LEDGER_GROUP = "ledger-writers"
#: Held by the one ledger writer deleting audit records past their retention, for the retention interval.
RETENTION_LOCK = f"{PREFIX}:ledger:retention"
#: Channel telling every API process that organizations or keys changed in the database (payload: what).
RECORDS_CHANGED_CHANNEL = f"{PREFIX}:records:changed"


def _id(value: str) -> str:
    """An id as one segment of a key name: any character is safe (org "a:b" and org "a" with user "b" stay apart);
    ids without ':' or '%' are written as they are."""
    return value.replace("%", "%25").replace(":", "%3A")


def rate_window(organization_id: str, kind: str, window: int) -> str:
    """Counter of requests ("req") or tokens ("tok") in one fixed minute window."""
    return f"{PREFIX}:rl:{_id(organization_id)}:{kind}:{window}"


def user_rate_window(organization_id: str, user_id: str, window: int) -> str:
    """Counter of one user's requests in one fixed minute window."""
    return f"{PREFIX}:rl:{_id(organization_id)}:user:{_id(user_id)}:{window}"


def concurrency(organization_id: str) -> str:
    """Sorted set of an organization's in-flight job ids, scored by when their slot expires (ms)."""
    return f"{PREFIX}:rl:{_id(organization_id)}:concurrent"


def spend(organization_id: str, period: str) -> str:
    """Integer nano-USD an organization spent in a period (YYYY-MM): a hot counter of the ledger's sum, seeded
    from the database when missing (api/spend.py)."""
    return f"{PREFIX}:spend:{_id(organization_id)}:{period}"


def reservations(organization_id: str) -> str:
    """Sorted set of an organization's outstanding budget reservations, members "<nano-USD>:<request id>"
    (common/budget.py), scored by when each expires (ms) if its request never settles it."""
    return f"{PREFIX}:reserved:{_id(organization_id)}"


def reserved_total(organization_id: str) -> str:
    """Integer nano-USD: the sum of an organization's outstanding reservations."""
    return f"{PREFIX}:reserved:{_id(organization_id)}:total"


def usage_recorded(request_id: str) -> str:
    """Set once when a request's usage is counted, so a retry or redelivery never counts twice."""
    return f"{PREFIX}:usage:done:{request_id}"


def budget_alert(organization_id: str, period: str, level: str) -> str:
    """Set once when an organization crosses a budget threshold ("soft"/"hard") in a period."""
    return f"{PREFIX}:budget-alert:{_id(organization_id)}:{period}:{level}"


def conversation_tier(organization_id: str, conversation_id: str) -> str:
    """String: the tier of a conversation's last auto-routed turn, expiring when stickiness ends."""
    return f"{PREFIX}:conv:{_id(organization_id)}:{_id(conversation_id)}:tier"


# --- response cache (common/cache.py) ---

#: Channel on which a worker announces that a cache entry was filled (or its job failed): payload is the key hash.
CACHE_FILLED_CHANNEL = f"{PREFIX}:cache:filled"


def response_cache(key_hash: str) -> str:
    """String: a cached answer (JSON), expiring with its TTL."""
    return f"{PREFIX}:cache:{key_hash}"


def cache_leader(key_hash: str) -> str:
    """Held by the one request computing an answer that identical concurrent requests wait for."""
    return f"{PREFIX}:cache:leader:{key_hash}"


def recent_figures(tier: str, bucket: int) -> str:
    """Hash of a tier's dashboard figures in one 10-second bucket (common/recent.py): histogram cells
    ("latency:<i>", "ttft:<i>", "wait:<i>"), "requests" and "errors"."""
    return f"{PREFIX}:recent:{tier}:{bucket}"
