"""Server URLs (Redis, PostgreSQL, SQLite) as logs and messages may show them: credentials masked."""

from __future__ import annotations


def redacted(url: str) -> str:
    """The URL with its credentials masked. They end at the authority's last `@` (a password written unencoded
    may hold one); an `@` in the path or query is not theirs."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    _credentials, at, host = authority.rpartition("@")
    if not separator or not at:
        return url
    return f"{scheme}://***@{host}{slash}{path}"
