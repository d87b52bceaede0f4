"""What the management commands share: reading `--set NAME=VALUE` into a query."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.management.base import CommandError
from django.http import QueryDict


def query_from_sets(items: Iterable[str], seed: str | None = None) -> QueryDict:
    """`--set NAME=VALUE` options (and `--seed`) as the query string a URL would carry."""
    query = QueryDict(mutable=True)
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"--set expects NAME=VALUE (got {item!r})")
        query[name.strip()] = value
    if seed is not None:
        query["seed"] = seed
    return query
