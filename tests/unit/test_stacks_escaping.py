import pytest

from gprofiler.stacks.escaping import decode_name, escape_frame


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("plain_name", "plain_name"),
        ("with space", "with space"),
        ("semi;colon", "semi\\x3bcolon"),
        ("new\nline", "new\\nline"),
        ("tab\there", "tab\\there"),
        ("bell\x07", "bell\\x07"),
        ("naïve_ünïcode", "naïve_ünïcode"),
        ("line\u2028sep", "line\\u2028sep"),
        ("trailing space ", "trailing space\\x20"),  # a line's last space separates its count
        ("two  ", "two \\x20"),
    ],
)
def test_escape_frame(name: str, escaped: str) -> None:
    assert escape_frame(name) == escaped


def test_invalid_utf8_becomes_visible_escapes() -> None:
    assert decode_name(b"\xff\xfe bad;x") == "\\xff\\xfe bad\\x3bx"
