"""The agent's own log, sent to the server in gzipped batches after each successful upload.

Records wait in a bounded buffer (oldest dropped first), so a server that is down costs a fixed
amount of memory. Failures to send logs are not logged to this handler, which would feed itself.
"""

import collections
import logging
import threading
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from gprofiler import __version__

if TYPE_CHECKING:
    from gprofiler.sinks.studio_client import StudioClient

_MAX_BUFFERED = 2000
_SELF = __name__


class RemoteLogsHandler(logging.Handler):
    def __init__(self, api_server: str, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.api_server = api_server
        self._records: collections.deque[dict[str, Any]] = collections.deque(maxlen=_MAX_BUFFERED)
        self._sending = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == _SELF:
            return
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        self._records.append(
            {
                "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                "level": record.levelname,
                "logger_name": record.name,
                "message": message,
            }
        )

    def send(self, client: "StudioClient") -> None:
        """Send what is buffered; on failure the batch goes back to the buffer (still bounded)."""
        if not self._records or not self._sending.acquire(blocking=False):
            return
        try:
            batch = list(self._records)
            self._records.clear()
            body = {
                "batch_id": str(uuid.uuid4()),
                "logs": batch,
                "metadata": {"hostname": client.hostname, "agent_version": __version__},
            }
            try:
                client.submit_logs(self.api_server, body)
            except Exception as error:
                logging.getLogger(_SELF).debug("cannot send %d log records: %s", len(batch), error)
                self._records.extendleft(reversed(batch))
        finally:
            self._sending.release()
