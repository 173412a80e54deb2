#!/usr/bin/env bash
# Installs code-server (a real VS Code workbench that runs offline) for the integration and e2e tests.
# usage: scripts/install-code-server.sh [VERSION] [DIR]   (defaults: 4.100.3, .cache/code-server-VERSION)
#   4.100.3 runs on the system Node 20 (its native modules built for it).
#   Newer releases (4.139.x) declare Node 24: the official Node 24 binary comes from the npm registry
#   (scripts/install-node.sh 24 -> .cache/node-24) and every native module is compiled against its headers.
# Needs apt packages: python3 make g++ libkrb5-dev ripgrep. Reaches only the npm registry.
# Idempotent: exits at once when DIR already holds a working install.
set -euo pipefail
VER=${1:-4.100.3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${2:-${KEFER_CS_DIR:-$ROOT/.cache/code-server-$VER}}
ENTRY=$DIR/node_modules/code-server/out/node/entry.js
if [ -f "$ENTRY" ] && [ -f "$DIR/.installed-$VER" ]; then echo "code-server $VER already in $DIR"; exit 0; fi
# npm refuses lifecycle scripts as root unless told; node-pty's postinstall runs `npx node-gyp`.
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
NODE_MAJOR=$(npm view "code-server@$VER" engines.node 2>/dev/null | grep -oE '[0-9]+' | head -1 || true)
NODE_MAJOR=${NODE_MAJOR:-20}
if [ "$NODE_MAJOR" != "$(node -p 'process.versions.node.split(".")[0]')" ]; then
  # Build and run with that Node: first on PATH (npm runs on it; node-gyp compiles against its headers).
  NODE_BIN=$(bash "$ROOT/scripts/install-node.sh" "$NODE_MAJOR" | tail -1)
  NDIR=$(dirname "$(dirname "$NODE_BIN")")
  export PATH="$NDIR/bin:$PATH"
  U=$(mktemp); printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' > "$U"
  # a user npmrc may point nodedir at the system Node's headers
  export npm_config_userconfig=$U npm_config_nodedir=$NDIR npm_config_target=$("$NODE_BIN" -p process.versions.node)
  export npm_config_runtime=node npm_config_build_from_source=true JOBS=max
fi
mkdir -p "$DIR" && cd "$DIR"
[ -f package.json ] || echo '{"name":"kefer-code-server-host","private":true}' > package.json
# Phase 1: fetch code-server without its postinstall (which downloads ripgrep from GitHub); argon2 builds from source.
npm pkg set allowScripts.code-server=false allowScripts.argon2=true --json
nice -n 10 npm install --no-audit --no-fund --loglevel=error "code-server@$VER"
# Phase 2: what code-server's postinstall.sh does, minus the ripgrep download (Debian's rg is linked instead
# where the release still uses @vscode/ripgrep; newer ones ship @vscode/ripgrep-universal with rg inside).
cd node_modules/code-server/lib/vscode
node -e '
const fs = require("fs"); const p = JSON.parse(fs.readFileSync("package.json", "utf8"));
p.allowScripts = { ...(p.allowScripts || {}), "@parcel/watcher": true, "@vscode/deviceid": true, "@vscode/spdlog": true, kerberos: true,
  "native-watchdog": true, "node-pty": true, "@vscode/sqlite3": true, "@vscode/native-watchdog": true, "@vscode/fs-copyfile": true,
  "@vscode/ripgrep": false, "@vscode/windows-process-tree": false, "@vscode/windows-registry": false };
fs.writeFileSync("package.json", JSON.stringify(p, null, 2));'
nice -n 10 npm install --no-audit --no-fund --omit=dev --loglevel=error
if [ -d node_modules/@vscode/ripgrep ] && [ ! -e node_modules/@vscode/ripgrep/bin/rg ]; then
  mkdir -p node_modules/@vscode/ripgrep/bin && ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
fi
rm -rf node_modules.asar && ln -s node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && nice -n 10 npm install --no-audit --no-fund --omit=dev --loglevel=error)
# which Node runs this install (test/e2e/codeServer.ts reads it)
command -v node > "$DIR/.node"
touch "$DIR/.installed-$VER"
echo "code-server $VER installed in $DIR (Node $(node -v))"
