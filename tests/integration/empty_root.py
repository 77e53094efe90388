"""Run a program chrooted in a root filesystem that holds nothing from the host.

    unshare --mount -- python3 empty_root.py --root ROOT --out OUT [--out-at /out] [--copy FILE]
        [--host-proc] [--tmp DIR] [--env NAME=VALUE]... -- PROGRAM ARGS...

Inside the private mount namespace that `unshare` made:
- with --copy, ROOT becomes a fresh tmpfs holding only FILE, at /<its name>; without it, ROOT is
  used as it is (an unpacked container image);
- a new /proc, the host's /sys and /dev, an empty /tmp (or the directory --tmp, to look at what is
  left in it afterwards), and OUT at --out-at are mounted, and with --host-proc another procfs at
  /host/proc, as a container's operator mounts the host's;
- PROGRAM (a path inside ROOT) runs there with exactly the --env variables.
The tests prove this way that the executable and the image need nothing from the host's filesystem.
"""

import argparse
import os
import shutil
import subprocess


def mount(*argv: str) -> None:
    subprocess.run(["mount", *argv], check=True)


def inside(root: str, path: str) -> str:
    folder = os.path.join(root, path.lstrip("/"))
    os.makedirs(folder, exist_ok=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--out-at", default="/out")
    parser.add_argument("--copy")
    parser.add_argument("--host-proc", action="store_true")
    parser.add_argument("--tmp")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    root = args.root
    mount("--make-rprivate", "/")
    if args.copy:
        mount("-t", "tmpfs", "-o", "mode=0755", "emptyroot", root)
        shutil.copy2(args.copy, os.path.join(root, os.path.basename(args.copy)))
    mount("-t", "proc", "proc", inside(root, "/proc"))
    mount("--rbind", "/sys", inside(root, "/sys"))
    mount("--rbind", "/dev", inside(root, "/dev"))
    if args.tmp:
        mount("--bind", args.tmp, inside(root, "/tmp"))
    else:
        mount("-t", "tmpfs", "-o", "mode=1777", "emptytmp", inside(root, "/tmp"))
    mount("--bind", args.out, inside(root, args.out_at))
    if args.host_proc:
        mount("-t", "proc", "proc", inside(root, "/host/proc"))
    environment = dict(item.split("=", 1) for item in args.env)
    os.chroot(root)
    os.chdir("/")
    os.execve(args.command[0], args.command, environment)


if __name__ == "__main__":
    main()
