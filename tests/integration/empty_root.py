"""Run a program alone in an empty root filesystem: `unshare --mount -- python3 empty_root.py ROOT OUT PROGRAM ARGS...`.

Inside a private mount namespace, ROOT becomes a fresh tmpfs holding only PROGRAM (as /PROGRAM's
name), a new /proc, the host's /sys and /dev, an empty /tmp, and OUT bind-mounted at /out; then the
program is executed chrooted there. It is how the tests prove the executable needs nothing from the
host's filesystem, the way a host with nothing installed would run it.
"""

import os
import shutil
import subprocess
import sys


def mount(*argv: str) -> None:
    subprocess.run(["mount", *argv], check=True)


def main() -> None:
    root, out, program, *args = sys.argv[1:]
    mount("--make-rprivate", "/")
    mount("-t", "tmpfs", "-o", "mode=0755", "emptyroot", root)
    for folder in ("proc", "sys", "dev", "tmp", "out"):
        os.mkdir(os.path.join(root, folder))
    mount("-t", "proc", "proc", os.path.join(root, "proc"))
    mount("--rbind", "/sys", os.path.join(root, "sys"))
    mount("--rbind", "/dev", os.path.join(root, "dev"))
    mount("-t", "tmpfs", "-o", "mode=1777", "emptytmp", os.path.join(root, "tmp"))
    mount("--bind", out, os.path.join(root, "out"))
    name = os.path.basename(program)
    shutil.copy2(program, os.path.join(root, name))
    os.chroot(root)
    os.chdir("/")
    os.execve(f"/{name}", [f"/{name}", *args], {"PATH": "/nonexistent"})


if __name__ == "__main__":
    main()
