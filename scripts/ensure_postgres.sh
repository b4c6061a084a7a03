#!/bin/sh
# PostgreSQL for the SQL datastore tests, installed from Debian where it is missing (called by `make test`).
# The tests start and stop their own server on 127.0.0.1 and a free port (tests/fixtures/postgres.py); this
# script only makes sure initdb and postgres exist. It never fails the build: where it cannot install,
# the SQL tests fail and say what is missing.
set -u
for bin in /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$bin" ] && exit 0
done
command -v initdb >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "ensure_postgres: not root, cannot install postgresql (the SQL datastore tests need it)" >&2
    exit 0
fi
echo "ensure_postgres: installing postgresql"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql >/dev/null; }; then
    echo "ensure_postgres: apt-get could not install postgresql (the SQL datastore tests need it)" >&2
fi
exit 0
