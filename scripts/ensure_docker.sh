#!/bin/sh
# What the Docker tests need, installed from Debian where it is missing (called by `make test`):
# dockerd (docker.io), debootstrap (the tests' base image) and docker-compose (checks docker/).
# The tests start and stop their own engine (tests/fixtures/docker_engine.py). This script never fails
# the build: where it cannot install, those tests are skipped and say why.
set -u
missing=""
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have dockerd || missing="$missing docker.io"
have debootstrap || missing="$missing debootstrap"
have docker-compose || missing="$missing docker-compose"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "ensure_docker: not root, cannot install:$missing (the Docker tests will be skipped)" >&2
    exit 0
fi
echo "ensure_docker: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # one word per package
if ! { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }; then
    echo "ensure_docker: apt-get could not install:$missing (the Docker tests will be skipped)" >&2
fi
exit 0
