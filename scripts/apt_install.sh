#!/bin/sh
# Install Debian packages the tests need, where this machine allows (called by scripts/ensure_*.sh):
#   apt_install.sh <caller> <what needs them> <package>...
# It never fails the build: where it cannot install (not root, apt-get failed) it says so, and the
# tests that need the packages fail or are skipped, saying what is missing.
set -u
caller=$1
why=$2
shift 2
if [ "$(id -u)" != 0 ]; then
    echo "$caller: not root, cannot install: $* ($why)" >&2
    exit 0
fi
echo "$caller: installing $*"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }; then
    echo "$caller: apt-get could not install: $* ($why)" >&2
fi
exit 0
