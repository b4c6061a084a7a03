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
# shellcheck disable=SC2086  # one word per package
exec sh "$(dirname "$0")/apt_install.sh" ensure_docker "the Docker tests will be skipped" $missing
