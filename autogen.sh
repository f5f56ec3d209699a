#!/bin/sh
# Generates configure and Makefile.in; nothing generated is committed.
set -e
cd "$(dirname "$0")"
mkdir -p m4
autoreconf --install --force ${AUTORECONF_FLAGS:-} >/dev/null
echo "autogen: now run ./configure"
