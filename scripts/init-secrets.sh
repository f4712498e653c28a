#!/usr/bin/env sh
# Creates ./secrets (0700) with one 0600 file per secret, and .env with the
# uid/gid the compose stack runs as. A thin wrapper over `tradebot secrets init`;
# every argument is passed through (--dir, --non-interactive, --force NAME).
set -eu
cd "$(dirname "$0")/.."
if command -v tradebot >/dev/null 2>&1; then
  exec tradebot secrets init "$@"
fi
exec cargo run --quiet --release -- secrets init "$@"
