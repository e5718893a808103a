"""The database is the system of record: a Redis that loses everything loses no key, organization, usage, audit
record or month's spend; a PostgreSQL that restarts under load costs no answer, and no record is lost or doubled."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from records.repository import AuditFilter, Records
from tests.databases import PrivatePostgres
from tests.harness import Gateway, RedisProcess, poll

pytestmark = [pytest.mark.integration, pytest.mark.faults]

CHEAP = {"model": "tier1", "max_tokens": 40, "messages": [{"role": "user", "content": "[sim tokens=40] oi"}]}


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    server = RedisProcess.start()
    yield server
    server.stop()


def _admin(gw: Gateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, f"{gw.ai_url}/admin/{path}", headers=gw.headers(), timeout=10, **kwargs)
    assert response.status_code < 300, response.text
    return response


def _key(gw: Gateway, organization_id: str) -> tuple[str, str]:
    created = _admin(gw, "POST", "keys", json={"organization_id": organization_id, "name": "t"}).json()
    return created["key"], created["key_id"]


def _chat(gw: Gateway, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{gw.ai_url}/chat/completions", json=body, headers={"authorization": f"Bearer {key}"},
                      timeout=30)


def _audit(gw: Gateway, organization_id: str) -> dict[str, dict[str, Any]]:
    data = _admin(gw, "GET", "audit", params={"organization_id": organization_id, "limit": 10000}).json()["data"]
    return {record["request_id"]: record for record in data}


def test_after_flushall_keys_organizations_usage_audit_and_budgets_are_as_they_were(redis: RedisProcess,
                                                                                  tmp_path: Path) -> None:
    gw = Gateway(tmp_path, redis).start()
    try:
        org = "org_survivor"
        _admin(gw, "POST", "organizations", json={"organization_id": org, "plan": "starter", "rpm": 77,
                                                   "monthly_budget_usd": 0.00002})
        (key, _), (unused_key, _), (revoked, revoked_id) = _key(gw, org), _key(gw, org), _key(gw, org)
        _admin(gw, "DELETE", f"keys/{revoked_id}")
        answered, statuses = [], []
        for _ in range(20):  # spend the month's budget
            response = _chat(gw, key, CHEAP)
            statuses.append(response.status_code)
            if response.status_code == 200:
                answered.append(response.headers["x-request-id"])
            if response.status_code == 402:
                break
        assert statuses[-1] == 402 and len(answered) >= 2, statuses
        assert _chat(gw, key, {"messages": [{"role": "wizard", "content": "x"}]}).status_code == 400
        gw.wait_recorded(answered)
        usage, audit, organization = gw.usage(organization_id=org), _audit(gw, org), gw.organization(org)
        assert usage["totals"]["requests"] == len(answered)

        redis.client().flushall()

        deadline, seen = time.monotonic() + 20, []
        while time.monotonic() < deadline:  # the workers' heartbeats come back within seconds
            seen.append(_chat(gw, unused_key, CHEAP).status_code)  # never used: not in any process's cache
            if seen[-1] == 402:
                break
            time.sleep(0.2)
        assert seen[-1] == 402 and 401 not in seen, f"a key in the database, budget spent in the ledger: {seen}"
        assert _chat(gw, revoked, CHEAP).status_code == 401, "a revoked key came back"
        gw.wait_recorded()
        assert gw.usage(organization_id=org) == usage, "/ai/usage changed with Redis"
        after = _audit(gw, org)
        assert all(after.get(rid) == record for rid, record in audit.items()), "an audit record changed or vanished"
        assert len(after) > len(audit), "the refusals after the flush were not drained into the audit trail"
        kept = gw.organization(org)
        assert (kept["plan"], kept["limits"]["rpm"], kept["limits"]["monthly_budget_usd"]) == ("starter", 77, 0.00002)
        assert kept["spend_this_month_usd"] == pytest.approx(organization["spend_this_month_usd"], abs=1e-12)
        assert kept["spend_this_month_usd"] == pytest.approx(usage["totals"]["cost_usd"], abs=1e-9)
    finally:
        gw.stop()


def test_a_postgresql_restart_under_load_costs_no_answer_and_no_record_is_lost_or_doubled(redis: RedisProcess,
                                                                                         tmp_path: Path) -> None:
    server = PrivatePostgres().start()
    gw = Gateway(tmp_path, redis, database_url=server.create_database()).start()
    try:
        org = "org_load"
        _admin(gw, "POST", "organizations", json={"organization_id": org, "plan": "enterprise"})
        key, _ = _key(gw, org)
        results: list[tuple[int, str]] = []
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                response = _chat(gw, key, CHEAP)
                results.append((response.status_code, response.headers.get("x-request-id", "")))

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            for _ in range(6):
                pool.submit(client)
            poll(lambda: len(results) >= 20, "no load got through before PostgreSQL stopped", seconds=30)
            server.stop()
            down = len(results)
            reads = httpx.get(f"{gw.ai_url}/usage", headers=gw.headers(), timeout=10)
            writes = httpx.post(f"{gw.ai_url}/admin/keys", json={"organization_id": org}, headers=gw.headers(),
                                timeout=10)
            time.sleep(7)  # longer than the API's key cache: lookups fail while PostgreSQL is down
            answered_while_down = len(results) - down
            server.start()
            restarted = len(results)
            poll(lambda: len(results) >= restarted + 20, "no load got through after PostgreSQL restarted",
                 seconds=30)
            stop.set()
        for refused in (reads, writes):  # what needs the database says so: a 503 to retry, not a 500
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "records_unavailable", \
                refused.text
        statuses = [status for status, _ in results]
        assert statuses.count(200) == len(statuses), f"not every request was answered: {set(statuses)}"
        assert answered_while_down > 20, f"only {answered_while_down} answers while PostgreSQL was down"
        answered = {rid for _, rid in results}
        gw.wait_recorded(seconds=60)

        async def stored() -> tuple[int, list[str]]:
            records = Records.connect(gw.database_url)
            try:
                today = dt.datetime.now(dt.UTC).date()
                report = await records.usage_report(org, today - dt.timedelta(days=1), today)
                ids = [r["request_id"] async for r in records.iter_audit(AuditFilter(organization_id=org))]
                return report["by_organization"][org]["requests"], ids
            finally:
                await records.close()

        requests, audit_ids = asyncio.run(stored())
        assert requests == len(answered) == len(results), (requests, len(answered), len(results))
        assert len(audit_ids) == len(set(audit_ids)) and set(audit_ids) == answered
    finally:
        gw.stop()
        server.remove()
