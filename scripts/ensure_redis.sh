#!/bin/sh
# Redis (Debian's redis-server) for the CeleryExecutor tests, installed where it is missing (called by
# `make test`). The tests start and stop their own server on 127.0.0.1 and a free port
# (tests/fixtures/redis.py); this script only makes sure redis-server exists. It never fails the build:
# where it cannot install, the Celery tests fail and say what is missing.
set -u
command -v redis-server >/dev/null 2>&1 && exit 0
exec sh "$(dirname "$0")/apt_install.sh" ensure_redis "the CeleryExecutor tests need it" redis-server
