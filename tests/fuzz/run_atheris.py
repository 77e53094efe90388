"""Coverage-guided fuzzing (atheris, libFuzzer) of one target of tests/fuzz/targets.py.

    python -m tests.fuzz.run_atheris TARGET CORPUS_DIR [libFuzzer options, e.g. -runs=5000 -seed=1]

A crash (an exception the target does not allow) makes libFuzzer save the input as
`crash-<sha1>` (under -artifact_prefix) and exit non-zero: copy it to tests/fixtures/fuzz/TARGET/,
where the unit tests replay it, then fix the parser.
"""

import sys

import atheris

with atheris.instrument_imports(include=["gprofiler", "gprofiler_studio"]):
    from tests.fuzz.targets import TARGETS


def main() -> None:
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
