"""The upload sink: every profile goes to the spool first, a background thread sends the spool in order.

- `write` never waits for the network: it spools the profile (or, if the disk refuses, keeps it in
  a small in-memory queue) and wakes the sender.
- The sender always sends the oldest profile first and deletes it only once the server has
  accepted it, so nothing is lost to a server that is down, a restart, or a crash.
- Network errors, timeouts and 5xx are retried with exponential backoff and full jitter, while new
  cycles keep being spooled. A 429 is retried after its Retry-After. A profile the server will never
  accept (400, 413, 415, 422) is set aside in the spool under a name that says why, and the next
  one goes. Any other 4xx (401/403: a bad token, which the operator will fix) keeps every profile,
  is logged once, and nothing is retried until the next cycle: nothing loops hot.
- What is spooled already fits studio's limits (`upload_limits`): a profile over them is trimmed
  of its least-sampled stacks first, with a line counting them.
- The `gpid` the server returns is sent back with later uploads, as gProfiler agents do.
"""

import collections
import logging
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gprofiler.profile import CycleProfile
from gprofiler.sinks.remote_logs import RemoteLogsHandler
from gprofiler.sinks.spool import Spool, SpoolEntry, encode_document
from gprofiler.sinks.studio_client import (
    StudioClient,
    UploadError,
    UploadRejectedError,
    proxy_for,
    utc_iso,
)
from gprofiler.sinks.upload_limits import fit_for_upload

logger = logging.getLogger(__name__)

_MEMORY_QUEUE = 16  # profiles kept in memory when the spool cannot be written (a full disk)
_CLOSE_WAIT_S = 3.0  # at stop, how long an upload in flight may finish; the spool keeps the rest
_MAX_RETRY_AFTER_S = 3600.0  # a server asking for a longer pause is asked again after an hour


@dataclass
class Backoff:
    """Exponential backoff with full jitter (a random delay up to the capped exponential)."""

    initial: float = 2.0
    ceiling: float = 300.0
    attempts: int = 0

    def next_delay(self) -> float:
        self.attempts += 1
        return random.uniform(0, min(self.ceiling, self.initial * 2 ** (self.attempts - 1)))

    def reset(self) -> None:
        self.attempts = 0


def upload_body(profile: CycleProfile, spawn_time: str) -> dict[str, Any]:
    """The v2 profile document, without `gpid` (added when it is sent)."""
    return {
        "start_time": utc_iso(profile.start_time),
        "end_time": utc_iso(profile.end_time),
        "hostname": profile.hostname,
        "profile": profile.collapsed,
        "cpu_avg": profile.metrics.get("cpu_avg"),
        "mem_avg": profile.metrics.get("mem_avg"),
        "spawn_time": spawn_time,
    }


class UploadSink:
    def __init__(
        self,
        client: StudioClient,
        spool: Spool,
        spawn_time: str,
        logs: RemoteLogsHandler | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.spool = spool
        self.spawn_time = spawn_time
        self.logs = logs
        self.backoff = backoff or Backoff()
        self.gpid = ""
        self.uploaded = 0
        self.refused = 0
        self._memory: collections.deque[dict[str, Any]] = collections.deque(maxlen=_MEMORY_QUEUE)
        self._wake = threading.Event()  # a new profile arrived
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._send_loop, name="uploader", daemon=True)
        self._thread.start()
        if len(spool):
            logger.info(
                "%d profile(s) from an earlier run wait in %s: sent first", len(spool), spool.directory
            )

    def write(self, profile: CycleProfile) -> None:
        body, data, dropped = fit_for_upload(upload_body(profile, self.spawn_time), encode_document)
        if dropped is not None:
            logger.warning(
                "the profile of %s is over the upload limit: its %d least-sampled stacks (%d samples) "
                "go as one [dropped stacks] line",
                body["start_time"],
                *dropped,
            )
        try:
            self.spool.put_encoded(data)
        except OSError as error:
            logger.error(
                "cannot spool the profile in %s (%s); keeping it in memory", self.spool.directory, error
            )
            if len(self._memory) == self._memory.maxlen:
                logger.error("in-memory upload queue full: dropped the oldest profile")
            self._memory.append(body)
        self._wake.set()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        self._thread.join(_CLOSE_WAIT_S)
        if len(self.spool):
            logger.info("%d profile(s) wait in %s for the next start", len(self.spool), self.spool.directory)
        if self._memory:
            logger.error("%d profile(s) could not be spooled and are lost at stop", len(self._memory))

    def _next(self) -> SpoolEntry | dict[str, Any] | None:
        # The in-memory queue only holds what the spool refused: try to move it to disk first.
        while self._memory:
            try:
                self.spool.put(self._memory[0])
            except OSError:
                return self._memory[0]
            self._memory.popleft()
        return self.spool.oldest()

    def _send_loop(self) -> None:
        while not self._closing.is_set():
            try:
                self._send_until_closed()
            except Exception:  # a disk that turns read-only mid-run...: the thread must not die
                logger.exception("the upload sender failed; it starts again in %.0fs", self.backoff.ceiling)
                self._closing.wait(self.backoff.ceiling)

    def _send_until_closed(self) -> None:
        refusal_logged = False
        while not self._closing.is_set():
            item = self._next()
            if item is None:
                self._wake.wait()
                self._wake.clear()
                continue
            document = item.document if isinstance(item, SpoolEntry) else item
            try:
                answer = self.client.submit_profile({**document, "gpid": self.gpid})
            except UploadRejectedError as error:
                if error.final:
                    self._set_aside(item, document, error)
                    continue
                if not refusal_logged:
                    logger.error("profile of %s kept in the spool: %s", document["start_time"], error)
                    refusal_logged = True
                if error.status == 429:
                    self._closing.wait(
                        min(error.retry_after or self.backoff.next_delay(), _MAX_RETRY_AFTER_S)
                    )
                else:
                    self._wait_for_next_cycle()
                continue
            except UploadError as error:
                delay = self.backoff.next_delay()
                logger.warning(
                    "upload failed (%s); %d profile(s) waiting, retrying in %.0fs",
                    error,
                    len(self.spool) + len(self._memory),
                    delay,
                )
                self._closing.wait(delay)
                continue
            self._done(item, document, answer)
            refusal_logged = False

    def _wait_for_next_cycle(self) -> None:
        self._wake.clear()
        self._wake.wait(self.backoff.ceiling)

    def _set_aside(
        self, item: SpoolEntry | dict[str, Any], document: dict[str, Any], error: UploadRejectedError
    ) -> None:
        """A profile the server will never take: kept aside (on disk), counted, and the queue goes on."""
        self.refused += 1
        if isinstance(item, SpoolEntry):
            try:
                where = f"set aside as {self.spool.set_aside(item, f'refused-{error.status}')}"
            except OSError as problem:
                self.spool.remove(item)
                where = f"dropped (cannot set it aside: {problem})"
        else:
            if self._memory and self._memory[0] is item:
                self._memory.popleft()
            where = "dropped (it was only in memory)"
        logger.error(
            "the server will not take the profile of %s (%s): %s; %d refused so far",
            document["start_time"],
            error,
            where,
            self.refused,
        )

    def _done(
        self, item: SpoolEntry | dict[str, Any], document: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        if isinstance(item, SpoolEntry):
            self.spool.remove(item)
        elif self._memory and self._memory[0] is item:
            self._memory.popleft()
        gpid = answer.get("gpid")
        if isinstance(gpid, (str, int)) and str(gpid):
            self.gpid = str(gpid)
        if self.backoff.attempts:
            waiting = len(self.spool) + len(self._memory)
            logger.info("the server answers again; %d profile(s) still waiting", waiting)
        self.backoff.reset()
        self.uploaded += 1
        logger.debug("uploaded the profile of %s (gpid %s)", document["start_time"], self.gpid or "-")
        if self.logs is not None:
            self.logs.send(self.client)


class UploadSetupError(Exception):
    """Uploading cannot start: the server is unreachable or the spool directory unusable."""


def connect(client: StudioClient) -> StudioClient:
    """The health check every agent makes before its first cycle; UploadSetupError says what is wrong."""
    try:
        client.health_check()
    except UploadError as error:
        url = client.server.server_host
        proxy = proxy_for(url)
        through = f" through the proxy {proxy} (from the environment)" if proxy else " (no proxy in use)"
        raise UploadSetupError(f"the server's health check failed at {url}{through}: {error}") from None
    logger.info("connected to %s as service %r", client.server.server_host, client.server.service_name)
    return client


def open_spool(directory: Path, max_bytes: int) -> Spool:
    try:
        return Spool(directory, max_bytes)
    except OSError as error:
        raise UploadSetupError(f"cannot use the upload spool directory {directory}: {error}") from None
