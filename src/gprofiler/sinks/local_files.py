"""Profiles as files in the output directory: `profile_<time>.col` / `.html` (and `.pb.gz`,
`.speedscope.json` with --output-format) and `last_*` symlinks.

Each file is written under a temporary name, fsync'ed, and renamed, so a crash or a full disk never
leaves a half-written profile; symlinks are swapped with a rename too. With `rotating`, the pair the
symlinks pointed at before is deleted once the new pair is in place.
"""

import logging
import os
import tempfile
from pathlib import Path

from gprofiler.output.flamegraph import FlamegraphAssets, render_html
from gprofiler.profile import CycleProfile

logger = logging.getLogger(__name__)

LAST_COLLAPSED = "last_profile.col"
LAST_FLAMEGRAPH = "last_flamegraph.html"
# --output-format: each format's file suffix and `last_*` link
FORMAT_FILES = {
    "col": (".col", LAST_COLLAPSED),
    "pprof": (".pb.gz", "last_profile.pb.gz"),
    "speedscope": (".speedscope.json", "last_profile.speedscope.json"),
}
_FILE_MODE = 0o644


def profile_basename(profile: CycleProfile) -> str:
    """gProfiler's naming: `profile_<UTC end time, ISO-8601 to the second>`."""
    return "profile_" + profile.end_time.replace(microsecond=0, tzinfo=None).isoformat()


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a private temporary file in the same directory."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), _FILE_MODE)
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def swap_symlink(link: Path, target_name: str) -> str | None:
    """Point `link` at `target_name` (relative) atomically; return what it pointed at before."""
    try:
        previous: str | None = os.readlink(link)
    except OSError:
        previous = None
    temp_link = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    temp_link.unlink(missing_ok=True)
    os.symlink(target_name, temp_link)
    os.replace(temp_link, link)
    return previous


def flamegraph_title(profile: CycleProfile) -> tuple[str, str]:
    start = profile.start_time.replace(microsecond=0).isoformat()
    end = profile.end_time.replace(microsecond=0).isoformat()
    return f"gprofiler: {profile.hostname}", f"{start} to {end}, {profile.samples:,} samples"


class LocalFilesSink:
    """Writes each cycle into the output directory."""

    def __init__(
        self,
        output_dir: Path,
        *,
        flamegraph: FlamegraphAssets | None,
        rotating: bool,
        formats: tuple[str, ...] = ("col",),
        frequency: int | None = None,
    ) -> None:
        self.output_dir = output_dir
        self.flamegraph = flamegraph
        self.rotating = rotating
        self.formats = formats
        self.frequency = frequency

    def _publish(self, file_name: str, data: bytes, last_link: str) -> None:
        write_atomically(self.output_dir / file_name, data)
        previous = swap_symlink(self.output_dir / last_link, file_name)
        if self.rotating and previous and previous != file_name and "/" not in previous:
            (self.output_dir / previous).unlink(missing_ok=True)

    def _encoded(self, profile: CycleProfile, kind: str) -> bytes:
        if kind == "col":
            return profile.collapsed.encode("utf-8")
        from gprofiler.output import pprof, speedscope

        lines = pprof.stack_lines(profile.collapsed)
        if kind == "pprof":
            return pprof.to_pprof(profile.header, lines, self.frequency)
        return speedscope.to_speedscope(lines, f"{profile.hostname} {profile.end_time.isoformat()}")

    def write(self, profile: CycleProfile) -> None:
        base = profile_basename(profile)
        for kind in self.formats:
            suffix, last_link = FORMAT_FILES[kind]
            try:
                self._publish(base + suffix, self._encoded(profile, kind), last_link)
                logger.debug("wrote %s", self.output_dir / (base + suffix))
            except OSError as error:
                logger.error("could not write the profile of this cycle to %s: %s", self.output_dir, error)
                return
            except Exception:  # a bug in a converter costs that file, never the others or the agent
                logger.exception("could not write the %s file of this cycle", kind)
        if self.flamegraph is None:
            return
        try:
            heading, subtitle = flamegraph_title(profile)
            page = render_html(self.flamegraph, profile.display_stacks(), heading=heading, subtitle=subtitle)
            self._publish(base + ".html", page.encode("utf-8"), LAST_FLAMEGRAPH)
            logger.debug("wrote %s", self.output_dir / (base + ".html"))
        except OSError as error:
            logger.error("could not write the flame graph of this cycle to %s: %s", self.output_dir, error)
        except Exception:  # a bug in drawing costs the page, never the profile or the agent
            logger.exception("could not draw the flame graph of this cycle (the .col file is written)")

    def close(self) -> None:
        pass
