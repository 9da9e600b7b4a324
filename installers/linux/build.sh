#!/usr/bin/env bash
# Builds the Linux download: dist/kimt-VERSION-linux-ARCH.tgz
#
#     installers/linux/build.sh
#
# from a fresh checkout on Debian/Ubuntu: scripts/setup installs the system
# packages and .venv, then this adds PyInstaller (the `build` extra, and
# binutils, whose objdump/objcopy PyInstaller uses), freezes KIMT with
# build.spec into dist/kimt/, and packs that folder with kimt.desktop,
# install.sh, the icons and a README into one top-level folder
# kimt-VERSION-linux-ARCH/. The version is the one the frozen `kimt --version`
# prints (kimt/__init__.py), which also proves the executable starts.
#
# Environment: KIMT_NO_APT=1  never run apt-get (as in scripts/setup)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

./scripts/setup
if ! command -v objdump >/dev/null 2>&1 || ! command -v objcopy >/dev/null 2>&1; then
    if [ "${KIMT_NO_APT:-}" = 1 ]; then
        echo "build.sh: PyInstaller needs binutils (objdump, objcopy): apt-get install binutils" >&2
        exit 1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q binutils
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[gui,build]'

echo "build.sh: freezing KIMT (build.spec)" >&2
.venv/bin/python -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller build.spec

version=$(env -i PATH=/usr/bin:/bin dist/kimt/kimt --version | awk '{print $2}')
arch=$(uname -m)
glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
name=kimt-$version-linux-$arch
stage=build/linux/$name

rm -rf "build/linux"
mkdir -p "$stage/icons"
cp -a dist/kimt/. "$stage/"
cp installers/linux/kimt.desktop installers/linux/install.sh "$stage/"
chmod 755 "$stage/install.sh" "$stage/kimt"
sed -e "s/@VERSION@/$version/" -e "s/@GLIBC@/$glibc/" installers/linux/README.txt \
    > "$stage/README.txt"
for png in assets/png/kimt-*.png; do cp "$png" "$stage/icons/"; done
cp assets/kimt.png "$stage/icons/kimt-512.png"

archive=dist/$name.tgz
# owner-neutral and in a stable order, so the same tree gives the same archive
tar -C build/linux --sort=name --owner=0 --group=0 --numeric-owner \
    -czf "$archive" "$name"
size=$(du -h "$archive" | cut -f1)
echo "$ROOT/$archive ($size)"
