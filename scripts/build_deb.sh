#!/usr/bin/env bash
# Build build/gprofiler_<version>_<arch>.deb from the single-file executable (./dev.sh exe first):
#   /opt/gprofiler/gprofiler                  the executable
#   /opt/gprofiler/envs.sh.template           the settings template; postinst copies it to envs.sh once
#   /lib/systemd/system/gprofiler.service     the unit (continuous mode, resource limits, hardening)
#   /usr/share/doc/gprofiler/                 README, copyright, changelog
# The maintainer scripts and the unit live in packaging/deb/.
#
#   scripts/build_deb.sh [EXECUTABLE]
# Environment: GPROFILER_DEB_VERSION (default: the executable's --version),
#              GPROFILER_DEB_MAINTAINER (default: "gprofiler maintainers <gprofiler@example.org>").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXECUTABLE="${1:-build/$(uname -m)/gprofiler}"
SOURCE=packaging/deb
[ -x "$EXECUTABLE" ] || { echo "build_deb: $EXECUTABLE missing (./dev.sh exe builds it)" >&2; exit 1; }

version="${GPROFILER_DEB_VERSION:-$("$EXECUTABLE" --version)}"
arch="$(dpkg --print-architecture)"
maintainer="${GPROFILER_DEB_MAINTAINER:-gprofiler maintainers <gprofiler@example.org>}"
tree="$(mktemp -d "${TMPDIR:-/tmp}/gprofiler-deb.XXXXXX")"
trap 'rm -rf "$tree"' EXIT
chmod 0755 "$tree"
output="build/gprofiler_${version}_${arch}.deb"

install -d -m 0755 "$tree/DEBIAN" "$tree/opt/gprofiler" "$tree/lib/systemd/system" \
    "$tree/usr/share/doc/gprofiler" "$tree/usr/share/lintian/overrides"
install -m 0755 "$EXECUTABLE" "$tree/opt/gprofiler/gprofiler"
install -m 0644 "$SOURCE/envs.sh.template" "$tree/opt/gprofiler/envs.sh.template"
install -m 0644 "$SOURCE/gprofiler.service" "$tree/lib/systemd/system/gprofiler.service"
install -m 0644 README.md "$SOURCE/copyright" "$tree/usr/share/doc/gprofiler/"
install -m 0644 "$SOURCE/lintian-overrides" "$tree/usr/share/lintian/overrides/gprofiler"
{
    printf 'gprofiler (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Release %s; changes: git log of the project.\n\n' "$version"
    printf ' -- %s  %s\n' "$maintainer" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$tree/usr/share/doc/gprofiler/changelog.gz"
chmod 0644 "$tree/usr/share/doc/gprofiler/changelog.gz"
for script in postinst prerm postrm; do
    install -m 0755 "$SOURCE/$script" "$tree/DEBIAN/$script"
done
size="$(du -sk --exclude=DEBIAN "$tree" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s|@MAINTAINER@|$maintainer|" \
    "$SOURCE/control.in" > "$tree/DEBIAN/control"
(cd "$tree" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$tree/DEBIAN/md5sums"
chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/md5sums"

mkdir -p build
# StaticX already compressed the executable: xz would spend 20 s to save nothing.
dpkg-deb --root-owner-group -Zgzip -z1 --build "$tree" "$output" >/dev/null
echo "$output"
