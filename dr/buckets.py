"""Replicated buckets: the manifest of a bucket against its DR replica's.

The requirements mirror a bucket's prefixes (`attachments/`, `exports/`) to a DR bucket
with at most `max_lag` of lag and flag manifest drift over `max_drift`. Both manifests
are listed (keys, sizes, ETags, last-modified) and compared key by key:

- missing: in the source, not in the replica;
- changed: in both, with another size, or another ETag where both ETags are plain MD5s (a
  multipart upload's ETag, `<md5>-<parts>`, depends on the part size the copier chose, so
  two such ETags are not compared; the size still is);
- extra: in the replica only (deleted at the source, still kept).

Drift = (missing + changed + extra) / the source's objects, against `max_drift`. A missing
or changed object last modified more than `max_lag` ago is *overdue*: replication broke
its own lag bound for it; each is named. One modified within `max_lag` is in flight:
drift, but not late.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SHOWN_KEYS = 10


@dataclass(frozen=True)
class Entry:
    size: int
    etag: str
    modified: datetime

    @property
    def multipart(self) -> bool:
        return "-" in self.etag


Manifest = Mapping[str, Entry]


def manifest(client: Any, bucket: str, prefixes: Sequence[str]) -> dict[str, Entry]:
    """Every object of `bucket` under `prefixes` (the whole bucket when none)."""
    found: dict[str, Entry] = {}
    paginator = client.get_paginator("list_objects_v2")
    for prefix in prefixes or ("",):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                found[item["Key"]] = Entry(
                    int(item["Size"]), str(item["ETag"]).strip('"'), item["LastModified"]
                )
    return found


@dataclass(frozen=True)
class Drift:
    source: str
    replica: str
    objects: int  # in the source
    missing: tuple[str, ...]
    changed: tuple[str, ...]
    extra: tuple[str, ...]
    overdue: tuple[str, ...]  # missing or changed, modified more than max_lag ago
    max_lag_seconds: float

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.changed) + len(self.extra)

    @property
    def ratio(self) -> float | None:
        """Differences per source object (None: the source has none, nothing to judge)."""
        return None if self.objects == 0 else self.differences / self.objects

    def describe(self) -> str:
        ratio = "no objects in the source" if self.ratio is None else f"drift {self.ratio:.4%}"
        parts = [
            f"{self.source} -> {self.replica}: {self.objects} objects, {ratio}",
            *(
                f"{len(keys)} {what}: {_shown(keys)}"
                for what, keys in (
                    ("missing", self.missing),
                    ("changed", self.changed),
                    ("extra", self.extra),
                )
                if keys
            ),
        ]
        if self.overdue:
            parts.append(
                f"{len(self.overdue)} older than the lag bound "
                f"({self.max_lag_seconds:g} s) and not replicated: {_shown(self.overdue)}"
            )
        return "; ".join(parts)


def compare(
    source: Manifest,
    replica: Manifest,
    *,
    now: datetime,
    max_lag_seconds: float,
    names: tuple[str, str] = ("source", "replica"),
) -> Drift:
    """The replica's drift from the source at `now` (timezone-aware, as S3's times)."""
    missing = sorted(key for key in source if key not in replica)
    changed = sorted(
        key for key in source if key in replica and _differs(source[key], replica[key])
    )
    extra = sorted(key for key in replica if key not in source)
    overdue = sorted(
        key
        for key in (*missing, *changed)
        if (now - source[key].modified).total_seconds() > max_lag_seconds
    )
    return Drift(
        names[0],
        names[1],
        len(source),
        tuple(missing),
        tuple(changed),
        tuple(extra),
        tuple(overdue),
        max_lag_seconds,
    )


def _differs(source: Entry, replica: Entry) -> bool:
    if source.size != replica.size:
        return True
    if source.multipart or replica.multipart:
        return False  # part sizes differ between uploader and copier: not comparable
    return source.etag != replica.etag


def _shown(keys: Iterable[str]) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:SHOWN_KEYS])
    return shown + (f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else "")


def seed_mirrored(client: Any, source: str, replica: str, keys: Sequence[str]) -> None:
    """Create `source` holding `keys` and `replica` holding copies of them: what a rehearsal
    or a test starts from (a staging environment's own replication job made its pair)."""
    for bucket in (source, replica):
        client.create_bucket(Bucket=bucket)

    def mirrored(key: str) -> None:
        client.put_object(Bucket=source, Key=key, Body=f"object {key}".encode())
        client.copy_object(Bucket=replica, Key=key, CopySource={"Bucket": source, "Key": key})

    with ThreadPoolExecutor(max_workers=8) as pool:  # boto3 clients are thread-safe
        list(pool.map(mirrored, keys))
