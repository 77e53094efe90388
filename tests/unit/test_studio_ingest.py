"""Studio's decoding and validation of uploads (gprofiler_studio.ingest) on real profiles and bad input."""

import gzip
import json
from pathlib import Path

import pytest

from gprofiler_studio import ingest
from gprofiler_studio.ingest import IngestError, inflate, parse_collapsed, parse_upload


def _document(fixtures: Path, **changes: object) -> bytes:
    text = (fixtures / "profiles" / "cycle.col").read_text()
    header = json.loads(text.split("\n", 1)[0][1:])
    document = {
        "start_time": header["start_time"],
        "end_time": header["end_time"],
        "hostname": "host-1",
        "profile": text,
        "cpu_avg": 12.5,
        "mem_avg": None,
        "spawn_time": header["start_time"],
        "gpid": "",
        **changes,
    }
    return json.dumps(document).encode()


def test_a_real_agent_profile_is_parsed_line_by_line(fixtures: Path) -> None:
    profile = parse_upload(_document(fixtures))
    text = (fixtures / "profiles" / "cycle.col").read_text()
    assert profile.total == sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()[1:])
    busy = [sample for sample in profile.samples if sample.process == "gp_busy_fp"]
    assert busy and busy[0].stack.startswith("gp_busy_fp;_start;")
    assert profile.hostname == "host-1" and profile.cpu_avg == 12.5 and profile.mem_avg is None
    assert profile.start.utcoffset() is not None and profile.end > profile.start


def test_app_id_names_the_process() -> None:
    (sample,) = parse_collapsed("# {}\n3;ctr;python3;appid: python: app.py (/srv/app.py);main_[p] 7\n")
    assert (sample.container, sample.process, sample.count) == ("ctr", "python: app.py (/srv/app.py)", 7)
    assert sample.stack == "python3;appid: python: app.py (/srv/app.py);main_[p]"


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    with pytest.raises(IngestError) as refused:
        inflate(bomb, "gzip", limit=1024 * 1024)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [
        (b"not gzip at all", "gzip", 400),
        (gzip.compress(b'{"a": 1}')[:-8], "gzip", 400),
        (b"{}", "br", 415),
    ],
)
def test_bad_encodings(body: bytes, encoding: str, status: int) -> None:
    with pytest.raises(IngestError) as refused:
        inflate(body, encoding)
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hostname": ""}, "hostname"),
        ({"hostname": "a\nb"}, "hostname"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"end_time": "2020-01-01T00:00:00+00:00"}, "end_time"),
        ({"profile": 42}, "profile"),
        ({"cpu_avg": "high"}, "cpu_avg"),
        ({"profile": "no header\n1;;a;b 1\n"}, "header"),
        ({"profile": "# {}\n1;;a;b\n"}, "line 2"),
        ({"profile": "# {}\n1;;a;b -3\n"}, "line 2"),
        ({"profile": "# {}\n1;;a;b 1\nx;;a;b 1\n"}, "line 3"),
        ({"profile": "# {}\n1;;a;b\tc 1\n"}, "control characters"),
        ({"profile": "# {}\n1;;;b 1\n"}, "empty process"),
        ({"profile": "# {}\n1;;a;;b 1\n"}, "empty process name or frame"),
        ({"profile": "# [1, 2]\n"}, "not a JSON object"),
    ],
)
def test_invalid_uploads_say_what_is_wrong(fixtures: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(IngestError, match=message):
        parse_upload(_document(fixtures, **changes))


def test_body_that_is_not_json_or_not_an_object() -> None:
    for raw in (b"{broken", b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(IngestError) as refused:
            parse_upload(raw)
        assert refused.value.status == 400


FAST_PATH_LINES = [
    "0;;python3;appid: python: app.py (/srv/app.py);main;f 5",
    "1;web;java;a;b 3",
    "2;;kworker 7",
    "0;c;p;appid: x 2",
    "0;;p;appid: y;z 1",
    "0;;p;a b;c d 1000000000",
]
REFUSED_LINES = [
    "0;;p;;x 1", "0;;p;x; 1", "0;;p;x  1", "0;;p 0", "0;;p;x 1000000001", "0;;;x 1", "0;;p;;;x 1",
    ";;p;x 1", "0;;p;x", "a;;p;x 1",
]  # fmt: skip


def test_the_whole_text_pattern_accepts_exactly_what_the_line_parser_does() -> None:
    """The one-regex path gives what the line-by-line parser gives, and refuses what it refuses."""
    body = "\n".join(FAST_PATH_LINES) + "\n"
    fast = ingest._fast_parse(body, len(FAST_PATH_LINES))
    assert fast == tuple(ingest._parse_line(n, line) for n, line in enumerate(FAST_PATH_LINES, start=2))
    assert fast is not None and fast[0].process == "python: app.py (/srv/app.py)"
    for line in REFUSED_LINES:
        assert ingest._fast_parse(f"{line}\n", 1) is None, line
        with pytest.raises(ingest.IngestError):
            ingest._parse_line(2, line)
