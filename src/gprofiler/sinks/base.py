"""The sink interface every output destination implements."""

from typing import Protocol

from gprofiler.profile import CycleProfile


class ProfileSink(Protocol):
    def write(self, profile: CycleProfile) -> None:
        """Persist or send one profile. Must not raise for I/O trouble: log it and carry on."""

    def close(self) -> None:
        """Flush and release resources; called once when the agent stops."""
