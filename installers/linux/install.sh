#!/bin/sh
# Adds KIMT to your applications menu, for you only (no root needed):
#
#   ./install.sh              add the menu entry and the icon
#   ./install.sh --uninstall  remove them again (this folder stays; delete it yourself)
#
# The entry starts KIMT from this folder: after moving the folder, run ./install.sh again.
# It writes ~/.local/share/applications/kimt.desktop and the icon in
# ~/.local/share/icons/hicolor/ (or under $XDG_DATA_HOME when that is set).
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data/applications
icons=$data/icons/hicolor
sizes="16 24 32 48 64 128 256 512"

# No icon or desktop caches are written: menus notice new files in these folders by
# themselves, and a user-level icon-theme.cache would hide icons other programs add later.

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$apps/kimt.desktop"
    for n in $sizes; do rm -f "$icons/${n}x${n}/apps/kimt.png"; done
    echo "Removed KIMT from the applications menu."
    exit 0
fi
if [ $# -gt 0 ]; then
    echo "usage: $0 [--uninstall]" >&2
    exit 2
fi
if [ ! -x "$here/kimt" ]; then
    echo "install.sh: $here/kimt is missing: unpack the whole archive and run install.sh there" >&2
    exit 1
fi

# The desktop entry spec: inside Exec's double quotes, \ " ` $ take a backslash,
# then every backslash of the value is doubled; % is written %%.
exec_path=$(printf '%s' "$here/kimt" \
    | sed -e 's/\\/\\\\\\\\/g' -e 's/["`$]/\\\\&/g' -e 's/%/%%/g')
try_path=$(printf '%s' "$here/kimt" | sed -e 's/\\/\\\\/g')

mkdir -p "$apps"
for n in $sizes; do
    mkdir -p "$icons/${n}x${n}/apps"
    cp "$here/icons/kimt-$n.png" "$icons/${n}x${n}/apps/kimt.png"
done
tmp=$(mktemp "$apps/.kimt.desktop.XXXXXX")
while IFS= read -r line; do
    case $line in
        Exec=*) printf 'Exec="%s"\n' "$exec_path" ;;
        TryExec=*) printf 'TryExec=%s\n' "$try_path" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$here/kimt.desktop" > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$apps/kimt.desktop"
echo "KIMT is in your applications menu (Internet). It starts $here/kimt"
