"""The repository on both databases it supports: PostgreSQL (a database of the test's own) and SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import insert

from records.database import create_engine
from records.models import UsageRow
from records.repository import AuditFilter, BadCursor, KeyRecord, LedgerEntry, OrganizationRecord, Records, usage_row
from records.schema import SchemaBehind, check, upgrade
from tests.databases import postgres_database, sqlite_database

T = TypeVar("T")
DAY = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC).timestamp()


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "postgresql":
        with postgres_database() as database:
            yield database
    else:
        with sqlite_database(tmp_path_factory.mktemp("records")) as database:
            yield database


def run(url: str, action: Callable[[Records], Awaitable[T]]) -> T:
    async def go() -> T:
        records = Records.connect(url)
        try:
            return await action(records)
        finally:
            await records.close()

    return asyncio.run(go())


def usage(org: str, *, time: float = DAY, cost: int = 1000, tier: str = "tier1", model: str | None = "tier1/m",
          user: str | None = "u1", status: int = 200, cache_hit: bool = False, request_id: str | None = None
          ) -> dict[str, Any]:
    return {"request_id": request_id or uuid.uuid4().hex, "organization_id": org, "user_id": user, "key_id": "key_1",
            "tier": tier, "model": model, "prompt_tokens": 10, "completion_tokens": 5, "cost_nusd": cost,
            "cache_hit": cache_hit, "status": status, "latency_ms": 12.5, "time": time}


def audit(entry: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"request_id": entry["request_id"], "time": entry["time"], "organization_id": entry["organization_id"],
            "key_id": entry["key_id"], "status": entry["status"], "model": entry["model"], "accepted": True, **extra}


def test_a_request_id_is_written_once_however_often_it_is_delivered(url: str) -> None:
    entry = usage("org_once")
    ledger = [LedgerEntry(entry, audit(entry))]
    first = run(url, lambda r: r.append(ledger * 2))
    again = run(url, lambda r: r.append(ledger))
    report = run(url, lambda r: r.usage_report("org_once", dt.date(2026, 3, 1), dt.date(2026, 3, 31)))
    records, _ = run(url, lambda r: r.audit_page(AuditFilter(request_id=entry["request_id"]), 10))
    assert (first, again) == (1, 0), f"new usage rows: first batch {first}, redelivery {again}"
    assert report["by_organization"]["org_once"]["requests"] == 1
    assert len(records) == 1 and records[0]["request_id"] == entry["request_id"]


def test_usage_sums_by_day_tier_model_user_and_organization_within_the_range(url: str) -> None:
    org = "org_sums"
    rows = [usage(org, tier="tier1", model="tier1/a", user="ana"),
            usage(org, tier="tier3", model="tier3/b", user="bia", cost=5000, cache_hit=True),
            usage(org, time=DAY + 86400, tier="tier3", model="tier3/b", user=None, status=503),
            usage(org, time=DAY + 40 * 86400), usage("org_other")]
    run(url, lambda r: r.append([LedgerEntry(row, None) for row in rows]))
    report = run(url, lambda r: r.usage_report(org, dt.date(2026, 3, 10), dt.date(2026, 3, 31)))
    assert set(report["by_day"]) == {"2026-03-10", "2026-03-11"}
    assert report["by_day"]["2026-03-10"] == {"requests": 2, "prompt_tokens": 20, "completion_tokens": 10,
                                              "cost_nusd": 6000, "cache_hits": 1, "errors": 0}
    assert report["by_day"]["2026-03-11"]["errors"] == 1
    assert {t: v["requests"] for t, v in report["by_tier"].items()} == {"tier1": 1, "tier3": 2}
    assert {m: v["cost_nusd"] for m, v in report["by_model"].items()} == {"tier1/a": 1000, "tier3/b": 6000}
    assert set(report["by_user"]) == {"ana", "bia"}, "a request without a user is in no user's breakdown"
    assert set(report["by_organization"]) == {org}
    everyone = run(url, lambda r: r.usage_report(None, dt.date(2026, 3, 10), dt.date(2026, 3, 10)))
    assert {"org_sums", "org_other"} <= set(everyone["by_organization"])
    assert "by_user" not in everyone, "user ids belong to organizations: no by_user across all of them"


def test_the_month_spend_is_the_sum_of_the_ledger_in_that_month(url: str) -> None:
    rows = [usage("org_spend", cost=7), usage("org_spend", cost=11), usage("org_spend", cost=99,
                                                                           time=DAY - 20 * 86400)]
    run(url, lambda r: r.append([LedgerEntry(row, None) for row in rows]))
    spent = run(url, lambda r: r.spend_nusd("org_spend", dt.date(2026, 3, 1), dt.date(2026, 3, 31)))
    assert spent == 18


def test_the_audit_listing_is_newest_first_and_its_cursor_walks_every_record_once(url: str) -> None:
    rows = [usage("org_pages", time=DAY + n) for n in range(7)]
    rows.append(usage("org_pages", time=DAY + 3))  # a tie on time: the request id orders them
    run(url, lambda r: r.append([LedgerEntry(None, audit(row)) for row in rows]))
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        page, cursor = run(url, lambda r, c=cursor: r.audit_page(AuditFilter(organization_id="org_pages"), 3, c))
        seen += page
        pages += 1
        if cursor is None:
            break
    times = [r["time"] for r in seen]
    assert pages == 3 and len(seen) == 8 and len({r["request_id"] for r in seen}) == 8
    assert times == sorted(times, reverse=True), f"not newest first: {times}"


def test_audit_filters_narrow_by_status_model_key_and_dates(url: str) -> None:
    ok, failed = usage("org_filters"), usage("org_filters", status=503, model="tier2/x", time=DAY + 86400)
    run(url, lambda r: r.append([LedgerEntry(None, audit(ok)), LedgerEntry(None, audit(failed))]))

    def ids(**where: Any) -> set[str]:
        page, _ = run(url, lambda r: r.audit_page(AuditFilter(organization_id="org_filters", **where), 100))
        return {record["request_id"] for record in page}

    assert ids(status=503) == {failed["request_id"]}
    assert ids(model="tier2/x") == {failed["request_id"]}
    assert ids(key_id="key_1") == {ok["request_id"], failed["request_id"]}
    assert ids(key_id="key_2") == set()
    assert ids(end=DAY + 10) == {ok["request_id"]}
    assert ids(start=DAY + 10) == {failed["request_id"]}


def test_a_forged_cursor_is_refused(url: str) -> None:
    with pytest.raises(BadCursor):
        run(url, lambda r: r.audit_page(AuditFilter(), 10, "not-a-cursor"))


def test_export_streams_every_record_oldest_first_across_batches(url: str) -> None:
    rows = [usage("org_export", time=DAY + n) for n in range(25)]
    run(url, lambda r: r.append([LedgerEntry(None, audit(row)) for row in rows]))

    async def collect(records: Records) -> list[dict[str, Any]]:
        return [r async for r in records.iter_audit(AuditFilter(organization_id="org_export"), batch=10)]

    exported = run(url, collect)
    assert [r["request_id"] for r in exported] == [row["request_id"] for row in rows]


def test_retention_deletes_only_records_older_than_the_cutoff(url: str) -> None:
    old = [usage("org_retention", time=DAY - 100 * 86400 + n) for n in range(12)]
    young = usage("org_retention")
    run(url, lambda r: r.append([LedgerEntry(row, audit(row)) for row in [*old, young]]))
    deleted = run(url, lambda r: r.delete_audit_before(DAY - 50 * 86400, batch=5))
    page, _ = run(url, lambda r: r.audit_page(AuditFilter(organization_id="org_retention"), 100))
    report = run(url, lambda r: r.usage_report("org_retention", dt.date(2025, 1, 1), dt.date(2026, 12, 31)))
    assert deleted >= 12 and [r["request_id"] for r in page] == [young["request_id"]]
    assert report["by_organization"]["org_retention"]["requests"] == 13, "retention is the audit's, not the ledger's"


def test_keys_are_found_by_hash_listed_by_organization_and_revoked(url: str) -> None:
    key = KeyRecord("key_" + uuid.uuid4().hex[:8], "org_keys", "crm", DAY, False)
    run(url, lambda r: r.add_key(key, "h" * 64))
    assert run(url, lambda r: r.key_by_hash("h" * 64)) == key
    assert run(url, lambda r: r.key_by_hash("x" * 64)) is None
    assert [k.key_id for k in run(url, lambda r: r.keys("org_keys"))] == [key.key_id]
    revoked = run(url, lambda r: r.revoke_key(key.key_id, DAY + 1))
    assert revoked is not None and revoked.revoked and run(url, lambda r: r.key_by_hash("h" * 64)).revoked
    assert run(url, lambda r: r.revoke_key("key_missing", DAY)) is None


def test_an_organization_saved_twice_keeps_the_last_plan_and_overrides(url: str) -> None:
    run(url, lambda r: r.save_organization(OrganizationRecord("org_saved", "starter", "A", {"rpm": 5}), DAY))
    run(url, lambda r: r.save_organization(OrganizationRecord("org_saved", "pro", "A", {"tpm": 9}), DAY + 1))
    saved = [o for o in run(url, lambda r: r.organizations()) if o.organization_id == "org_saved"]
    assert saved == [OrganizationRecord("org_saved", "pro", "A", {"tpm": 9})]


def test_a_database_without_the_schema_is_reported_with_the_command_to_run(tmp_path: Path) -> None:
    with sqlite_database(tmp_path, migrate=False) as empty, pytest.raises(SchemaBehind, match="tiergate db upgrade"):
        check(empty)


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_the_rollup_migration_sums_a_ledger_written_before_it(database: str, tmp_path: Path) -> None:
    rows = [usage("org_old", cost=5), usage("org_old", cost=7, user=None, model=None, status=500),
            usage("org_old", cost=11, time=DAY + 86400, tier="tier2")]

    async def write_ledger(url: str) -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(insert(UsageRow), [usage_row(row) for row in rows])
        await engine.dispose()

    context = postgres_database(migrate=False) if database == "postgresql" else sqlite_database(tmp_path, False)
    with context as url:
        upgrade(url, "0001_records")
        asyncio.run(write_ledger(url))
        upgrade(url)
        report = run(url, lambda r: r.usage_report("org_old", dt.date(2026, 3, 1), dt.date(2026, 3, 31)))
    assert report["by_organization"]["org_old"]["cost_nusd"] == 23
    assert report["by_day"]["2026-03-10"]["requests"] == 2 and report["by_day"]["2026-03-10"]["errors"] == 1
    assert {t: v["requests"] for t, v in report["by_tier"].items()} == {"tier1": 2, "tier2": 1}
    assert report["by_model"]["none"]["cost_nusd"] == 7 and set(report["by_user"]) == {"u1"}
