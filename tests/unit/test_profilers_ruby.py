from pathlib import Path

from gprofiler.profilers.ruby.profiler import RUBY_SUFFIX, parse_rbspy_collapsed, rbspy_argv

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ruby"


def test_rbspy_collapsed_output_keeps_its_text_with_the_ruby_suffix() -> None:
    # rbspy 0.55.0 on tests/targets/ruby/busy.rb under Debian's ruby 3.1 (-r 11 -d 2 --format collapsed)
    text = (FIXTURES / "rbspy_collapsed.txt").read_text()
    stacks = parse_rbspy_collapsed(text, "ruby")
    assert sum(stacks.values()) == 23
    [stack] = stacks
    assert stack[0] == "ruby"
    assert [frame.split(" - ")[0] for frame in stack[1:]] == ["<main>", "gp_mid", "gp_ünïcode", "gp_leaf"]
    assert all(frame.endswith(RUBY_SUFFIX) and "/tests/targets/ruby/busy.rb:" in frame for frame in stack[1:])


def test_rbspy_odd_names_are_escaped() -> None:
    stacks = parse_rbspy_collapsed("<main> - /tmp/a\u2028b.rb:1;x - /tmp/a.rb:2 3\nnot a stack\n", "ruby")
    [(stack, count)] = stacks.items()
    assert count == 3 and "\u2028" not in stack[1]


def test_rbspy_command_line_is_gprofilers() -> None:
    argv = rbspy_argv("rbspy", 42, 11, 60, Path("/w/out.txt"))
    assert argv == [
        "rbspy", "record", "--silent", "-r", "11", "-d", "60", "--nonblocking", "--on-cpu",
        "--format", "collapsed", "--file", "/w/out.txt", "--raw-file", "/dev/null", "-p", "42",
    ]  # fmt: skip
