"""Run a program alone in an empty root filesystem.

    unshare --mount -- python3 empty_root.py ROOT OUT [--host-proc] PROGRAM ARGS...

Inside the private mount namespace, ROOT becomes a fresh tmpfs holding only PROGRAM (under its
own name), a new /proc, the host's /sys and /dev, an empty /tmp, and OUT bind-mounted at /out; with
--host-proc, another procfs at /host/proc as a container's operator would mount the host's. Then the
program runs chrooted there. The tests prove this way that the executable needs nothing from the
host's filesystem.
"""

import os
import shutil
import subprocess
import sys


def mount(*argv: str) -> None:
    subprocess.run(["mount", *argv], check=True)


def main() -> None:
    root, out, *rest = sys.argv[1:]
    host_proc = rest[0] == "--host-proc"
    program, *args = rest[1:] if host_proc else rest
    mount("--make-rprivate", "/")
    mount("-t", "tmpfs", "-o", "mode=0755", "emptyroot", root)
    for folder in ("proc", "sys", "dev", "tmp", "out"):
        os.mkdir(os.path.join(root, folder))
    mount("-t", "proc", "proc", os.path.join(root, "proc"))
    mount("--rbind", "/sys", os.path.join(root, "sys"))
    mount("--rbind", "/dev", os.path.join(root, "dev"))
    mount("-t", "tmpfs", "-o", "mode=1777", "emptytmp", os.path.join(root, "tmp"))
    mount("--bind", out, os.path.join(root, "out"))
    if host_proc:
        os.makedirs(os.path.join(root, "host", "proc"))
        mount("-t", "proc", "proc", os.path.join(root, "host", "proc"))
    name = os.path.basename(program)
    shutil.copy2(program, os.path.join(root, name))
    os.chroot(root)
    os.chdir("/")
    os.execve(f"/{name}", [f"/{name}", *args], {"PATH": "/nonexistent"})


if __name__ == "__main__":
    main()
