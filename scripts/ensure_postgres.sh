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
exec sh "$(dirname "$0")/apt_install.sh" ensure_postgres "the SQL datastore tests need it" postgresql
