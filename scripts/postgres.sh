#!/usr/bin/env bash
# Starts Debian's PostgreSQL on loopback (if it is not running) with a
# `secours` role, so the server's test suite also runs on PostgreSQL, and
# prints the admin URL the tests use (SECOURS_TEST_POSTGRES). Needs root.
set -euo pipefail
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q " online"; then
  pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main >/dev/null
  pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 0.2
done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='secours'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE secours LOGIN SUPERUSER PASSWORD 'secours'\""
echo "postgres://secours:secours@127.0.0.1:5432/postgres"
