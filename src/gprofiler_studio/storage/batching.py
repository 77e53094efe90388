"""Group commit: profiles handed over by a worker's request threads are written in blocks.

A ClickHouse INSERT costs ~15 ms of server time per table however few rows it carries (each makes a
part, and a samples insert also makes one per materialized view): one profile per INSERT is
ClickHouse's worst case. Here a request thread hands its profile to the worker's one writer thread
and waits; the writer takes everything waiting (up to `max_items` profiles and `max_rows` sample
rows), after lingering up to `linger` seconds for more when the batch is small, writes the batch
with `write`, and only then wakes each request thread with its own outcome. An upload is
acknowledged once its block is in the database: a worker keeps nothing of its own, and a worker that
dies before the write has acknowledged nothing, so the agent sends the profile again.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass
class Waiting(Generic[ItemT, ResultT]):
    item: ItemT
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    result: ResultT | None = None
    error: BaseException | None = None


class BatchWriter(Generic[ItemT, ResultT]):
    """`write(items)` returns one result per item, in order, or raises (then every item's request
    gets the error: nothing of the batch was acknowledged)."""

    def __init__(
        self,
        write: Callable[[list[ItemT]], list[ResultT]],
        *,
        max_items: int = 500,
        max_rows: int = 500_000,
        linger: float = 0.05,
        name: str = "batch-writer",
    ) -> None:
        self._write, self.max_items, self.max_rows, self.linger = write, max_items, max_rows, linger
        self._waiting: list[Waiting[ItemT, ResultT]] = []
        self._condition = threading.Condition()
        self._closed = False
        self.batches = 0  # written, for tests and metrics
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: ItemT, rows: int) -> ResultT:
        """Write `item` (of `rows` sample rows) in the next batch; its result once that is written."""
        waiting: Waiting[ItemT, ResultT] = Waiting(item, rows)
        with self._condition:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._waiting.append(waiting)
            self._condition.notify_all()
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _take(self) -> list[Waiting[ItemT, ResultT]] | None:
        """The next batch: whatever waits, after lingering while it is small; None once closed."""
        with self._condition:
            while not self._waiting and not self._closed:
                self._condition.wait()
            if not self._waiting:
                return None
            deadline = time.monotonic() + self.linger
            while not self._closed and not self._full() and (left := deadline - time.monotonic()) > 0:
                self._condition.wait(left)
            batch: list[Waiting[ItemT, ResultT]] = []
            rows = 0
            for waiting in self._waiting:
                if batch and (len(batch) >= self.max_items or rows + waiting.rows > self.max_rows):
                    break
                batch.append(waiting)
                rows += waiting.rows
            del self._waiting[: len(batch)]
            return batch

    def _full(self) -> bool:
        rows = sum(waiting.rows for waiting in self._waiting)
        return len(self._waiting) >= self.max_items or rows >= self.max_rows

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                results = self._write([waiting.item for waiting in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} items")
            except Exception as error:  # every request of the batch answers with the error
                logger.warning("writing a batch of %d profiles failed: %s", len(batch), error)
                for waiting in batch:
                    waiting.error = error
                    waiting.done.set()
                continue
            self.batches += 1
            for waiting, result in zip(batch, results, strict=True):
                waiting.result = result
                waiting.done.set()

    def close(self) -> None:
        """Write what waits, then stop."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join()
