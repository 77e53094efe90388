"""A full disk loses the cycle's files cleanly: no half-written profile, the agent carries on."""

import subprocess

from tests.integration.conftest import AgentFiles, parse_profile, wait_for


def test_full_disk_leaves_no_partial_files(agent: AgentFiles) -> None:
    agent.output.mkdir(parents=True)
    # Room for collapsed profiles (a few kB each) but not for a flame graph page (~300 kB of d3).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(agent.output)], check=True)
    try:
        process = agent.start("-c", "-d", "1")
        try:
            wait_for(lambda: agent.log.exists() and "cycle 2:" in agent.log.read_text(), 20, "two cycles")
        finally:
            process.terminate()
            process.communicate(timeout=10)
        assert process.returncode == 0
        names = sorted(p.name for p in agent.output.iterdir())
        assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")], names
        assert not [n for n in names if n.endswith(".html")], names
        collapsed = [n for n in names if n.startswith("profile_") and n.endswith(".col")]
        assert len(collapsed) >= 2
        for name in collapsed:
            parse_profile(agent.output / name)  # every file that exists is complete
        assert (agent.output / "last_profile.col").resolve().name == collapsed[-1]
        assert "No space left on device" in agent.log.read_text()
    finally:
        subprocess.run(["umount", str(agent.output)], check=True)
