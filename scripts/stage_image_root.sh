#!/usr/bin/env bash
# Lay out the container image's whole filesystem in DEST: the single-file executable, an empty
# world-writable /tmp (StaticX and PyInstaller unpack there) and the CA bundle for HTTPS uploads.
# Used by the Dockerfile's build stage and by the tests, so both produce the same image.
#
#   scripts/stage_image_root.sh DEST EXECUTABLE
set -euo pipefail
dest="$1"
executable="$2"
ca_bundle="${GPROFILER_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[ -x "$executable" ] || { echo "stage_image_root: $executable is not an executable (run ./dev.sh exe)" >&2; exit 1; }
[ -f "$ca_bundle" ] || { echo "stage_image_root: $ca_bundle missing (apt-get install ca-certificates)" >&2; exit 1; }
rm -rf "$dest"
install -d -m 0755 "$dest" "$dest/etc/ssl/certs" "$dest/var/lib/gprofiler"
install -d -m 1777 "$dest/tmp"
install -m 0755 "$executable" "$dest/gprofiler"
install -m 0644 "$ca_bundle" "$dest/etc/ssl/certs/ca-certificates.crt"
