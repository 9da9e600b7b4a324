#!/usr/bin/env bash
# Builds the macOS download: dist/kimt-VERSION-macos-ARCH.dmg
#
#     installers/macos/build.sh
#
# on a Mac with Python 3.11 and Tk (python.org's installer, or the release
# workflow's setup-python). It freezes KIMT with build.spec into dist/KIMT.app
# and packs the app with a link to /Applications into a compressed .dmg
# (hdiutil), so the user drags KIMT onto Applications. The app runs on the
# architecture it was built on (arm64 on Apple silicon runners).
#
# Signing and notarisation happen only when configured, and are skipped with a
# message otherwise (the app is then signed ad hoc: it runs on the Mac that
# built it; elsewhere Gatekeeper asks the user to allow it in System Settings):
#   KIMT_CODESIGN_IDENTITY   "Developer ID Application: NAME (TEAMID)", in the keychain:
#                            PyInstaller signs every binary and the app with the
#                            hardened runtime (installers/macos/entitlements.plist),
#                            and this script signs the .dmg
#   KIMT_NOTARY_PROFILE      a notarytool keychain profile (xcrun notarytool
#                            store-credentials), or all three of
#   KIMT_NOTARY_APPLE_ID, KIMT_NOTARY_TEAM_ID, KIMT_NOTARY_PASSWORD (an app-specific password)
# PYTHON: the interpreter for .venv (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [ "$(uname -s)" != Darwin ]; then
    echo "build.sh: this builds the macOS app and needs a Mac (hdiutil, codesign)" >&2
    exit 1
fi
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[gui,build]'

identity=${KIMT_CODESIGN_IDENTITY:-}
echo "build.sh: freezing KIMT (build.spec)" >&2
KIMT_CODESIGN_IDENTITY=$identity .venv/bin/python -m PyInstaller --noconfirm --clean \
    --log-level WARN --distpath dist --workpath build/pyinstaller build.spec

app=dist/KIMT.app
version=$("$app/Contents/MacOS/kimt" --version | awk '{print $2}')
arch=$(uname -m)
dmg=dist/kimt-$version-macos-$arch.dmg

if [ -n "$identity" ]; then
    codesign --verify --deep --strict --verbose=2 "$app"
else
    echo "build.sh: KIMT_CODESIGN_IDENTITY is not set: the app is signed ad hoc only" >&2
fi

stage=build/dmg
rm -rf "$stage" "$dmg"
mkdir -p "$stage"
ditto "$app" "$stage/KIMT.app"  # ditto keeps the signatures and extended attributes
ln -s /Applications "$stage/Applications"
hdiutil create -volname "KIMT $version" -srcfolder "$stage" -fs HFS+ -format UDZO \
    -ov "$dmg"

if [ -n "$identity" ]; then
    codesign --force --timestamp --sign "$identity" "$dmg"
fi

notary=()
if [ -n "${KIMT_NOTARY_PROFILE:-}" ]; then
    notary=(--keychain-profile "$KIMT_NOTARY_PROFILE")
elif [ -n "${KIMT_NOTARY_APPLE_ID:-}" ] && [ -n "${KIMT_NOTARY_TEAM_ID:-}" ] \
        && [ -n "${KIMT_NOTARY_PASSWORD:-}" ]; then
    notary=(--apple-id "$KIMT_NOTARY_APPLE_ID" --team-id "$KIMT_NOTARY_TEAM_ID"
            --password "$KIMT_NOTARY_PASSWORD")
fi
if [ -n "$identity" ] && [ ${#notary[@]} -gt 0 ]; then
    echo "build.sh: notarising $dmg (this waits for Apple's answer)" >&2
    xcrun notarytool submit "$dmg" "${notary[@]}" --wait
    xcrun stapler staple "$dmg"
    spctl --assess --type open --context context:primary-signature --verbose "$dmg"
else
    echo "build.sh: notarisation skipped (needs KIMT_CODESIGN_IDENTITY and notary credentials)" >&2
fi
echo "$PWD/$dmg ($(du -h "$dmg" | cut -f1))"
