"""A batch of profiles written to ClickHouse in four statements, whatever its size.

ClickHouse has no transactions across tables, so "each profile stored whole, once" is built from what
it does guarantee: one INSERT block into one table is atomic (no partitions here, and a batch stays
under the driver's block size).
1. one SELECT finds which profiles of the batch are stored already (their samples are there, by
   identity: service, minute, host, start, end), and for those, the stored content's digest: the
   same digest is a duplicate (an agent that lost an acknowledgment), another one a conflict; within
   the batch the first of an identity wins the same way;
2. the stack texts not stored by this process yet (ReplacingMergeTree by hash: again is harmless);
3. the new profiles' CPU and memory (ReplacingMergeTree by identity: idempotent);
4. all the new profiles' samples in one INSERT into `samples_minute`; the materialized views sum
   the same rows into the rollups.
A failure before 4 leaves only idempotent rows, and 4 is all or nothing, so a batch that fails is
acknowledged to nobody and stored by nobody: each agent sends its profile again.
"""

from collections import Counter
from collections.abc import Callable
from typing import Any

from gprofiler_studio.model import MINUTE, Outcome, Profile, bucket_of, to_epoch
from gprofiler_studio.storage.base import stack_hash

Run = Callable[[str, Any], list[tuple[Any, ...]]]
Identity = tuple[str, int, str, int, int]  # service, bucket, host, start, end
KNOWN_STACKS = 200_000  # stack hashes a process remembers having stored


def identity_of(service: str, profile: Profile) -> Identity:
    start, end = to_epoch(profile.start), to_epoch(profile.end)
    return (service, bucket_of(start, MINUTE), profile.hostname, start, end)


def sample_rows(profile: Profile) -> int:
    """The rows a profile adds to `samples_minute` at most (one per distinct stack and process)."""
    return len(profile.samples)


def _stored_digests(run: Run, db: str, identities: list[Identity]) -> dict[Identity, set[str]]:
    """For the identities whose samples are stored: the digests of their stored profiles."""
    stored = run(
        f"SELECT service, bucket, host, profile_start, profile_end FROM {db}.samples_minute "
        "WHERE (service, bucket, host, profile_start, profile_end) IN %(ids)s "
        "GROUP BY service, bucket, host, profile_start, profile_end",
        {"ids": tuple(identities)},
    )
    found: dict[Identity, set[str]] = {(row[0], row[1], row[2], row[3], row[4]): set() for row in stored}
    if found:
        keys = tuple((service, host, start, end) for service, _, host, start, end in found)
        rows = run(
            f"SELECT service, host, start_ts, end_ts, digest FROM {db}.profiles "
            "WHERE (service, host, start_ts, end_ts) IN %(keys)s",
            {"keys": keys},
        )
        for service, host, start, end, digest in rows:
            found[(service, bucket_of(start, MINUTE), host, start, end)].add(digest)
    return found


def write_profiles(run: Run, db: str, known: set[bytes], items: list[tuple[str, Profile]]) -> list[Outcome]:
    """Store a batch; one outcome per item, in order. `known`: hashes stored by this process."""
    identities = [identity_of(service, profile) for service, profile in items]
    stored = _stored_digests(run, db, list(dict.fromkeys(identities)))
    outcomes: list[Outcome] = []
    new: list[tuple[Identity, str, Profile]] = []
    for identity, (service, profile) in zip(identities, items, strict=True):
        digest = profile.digest.hex()
        if identity in stored:
            outcomes.append(Outcome.DUPLICATE if stored[identity] <= {"", digest} else Outcome.CONFLICT)
            continue
        stored[identity] = {digest}  # a second copy within the batch is judged against this one
        new.append((identity, service, profile))
        outcomes.append(Outcome.STORED)
    if not new:
        return outcomes
    hashes: dict[str, bytes] = {}
    for _, _, profile in new:
        for sample in profile.samples:
            if sample.stack not in hashes:
                hashes[sample.stack] = stack_hash(sample.stack)
    texts = [(digest, text) for text, digest in hashes.items() if digest not in known]
    if texts:
        run(f"INSERT INTO {db}.stacks VALUES", texts)
        if len(known) + len(texts) > KNOWN_STACKS:
            known.clear()
        known.update(digest for digest, _ in texts)
    run(
        f"INSERT INTO {db}.profiles VALUES",
        [(service, profile.hostname, start, end, profile.cpu_avg, profile.mem_avg, profile.total,
          profile.digest.hex()) for (_, _, _, start, end), service, profile in new],
    )  # fmt: skip
    rows = []
    for (service, bucket, host, start, end), _, profile in new:
        counts: Counter[tuple[str, str, bytes]] = Counter()
        for sample in profile.samples:
            counts[(sample.container, sample.process, hashes[sample.stack])] += sample.count
        rows += [
            (service, bucket, host, container, process, digest, start, end, count)
            for (container, process, digest), count in counts.items()
        ]
    run(f"INSERT INTO {db}.samples_minute VALUES", rows)
    return outcomes
