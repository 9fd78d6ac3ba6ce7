#!/bin/sh
# INTERFACE.md: `make check` installs Check on Debian/Ubuntu when it is
# missing and the user is root, otherwise says exactly what to install.
pkg-config --exists check 2>/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "make check: installing the Check framework (apt-get install check pkg-config)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq check pkg-config >&2 && exit 0
fi
echo "make check: the Check unit-test framework is missing." >&2
echo "  Debian/Ubuntu: sudo apt-get install check pkg-config" >&2
echo "  Fedora:        sudo dnf install check-devel pkgconf" >&2
exit 1
