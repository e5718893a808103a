"""Where an organization's month spend starts: the Redis hot counter (keys.spend) is the ledger's sum, seeded from
the database whenever Redis does not have it (first use in a month, or Redis lost it), then kept by the workers."""

from __future__ import annotations

import datetime as dt
import logging

import redis.asyncio as aioredis
from sqlalchemy.exc import SQLAlchemyError

from common import keys
from common.usage import period_of
from records.repository import Records

log = logging.getLogger("tiergate.spend")

COUNTER_SECONDS = 40 * 86400


def month_of(timestamp: float) -> tuple[dt.date, dt.date]:
    """First and last day (UTC) of the month holding `timestamp`."""
    first = dt.datetime.fromtimestamp(timestamp, dt.UTC).date().replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


class SpendSeeder:
    def __init__(self, redis: aioredis.Redis, records: Records) -> None:
        self._redis = redis
        self._records = records

    async def seed(self, organization_id: str, now: float) -> bool:
        """Set the month's counter from the ledger unless someone already has; False when the database is away.

        What the workers counted while the counter was missing (their entries not yet drained, a second or
        two around a Redis loss) is the most it can miss."""
        first, last = month_of(now)
        try:
            spent = await self._records.spend_nusd(organization_id, first, last)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("cannot seed the spend of %s: the database does not answer (%s)", organization_id,
                        type(exc).__name__)
            return False
        await self._redis.set(keys.spend(organization_id, period_of(now)), spent, nx=True, ex=COUNTER_SECONDS)
        return True
