#!/bin/sh
# Redis (Debian's redis-server) for the CeleryExecutor tests, installed where it is missing (called by
# `make test`). The tests start and stop their own server on 127.0.0.1 and a free port
# (tests/fixtures/redis.py); this script only makes sure redis-server exists. It never fails the build:
# where it cannot install, the Celery tests fail and say what is missing.
set -u
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "ensure_redis: not root, cannot install redis-server (the CeleryExecutor tests need it)" >&2
    exit 0
fi
echo "ensure_redis: installing redis-server"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends redis-server >/dev/null; }; then
    echo "ensure_redis: apt-get could not install redis-server (the CeleryExecutor tests need it)" >&2
fi
exit 0
