#!/usr/bin/env bash
# Installs code-server (a real VS Code workbench that runs offline) for the integration and e2e tests.
# usage: scripts/install-code-server.sh [VERSION] [DIR]   (defaults: 4.100.3, .cache/code-server-VERSION)
# Needs apt packages: python3 make g++ libkrb5-dev ripgrep. Reaches only the npm registry.
# Idempotent: exits at once when DIR already holds a working install.
set -euo pipefail
VER=${1:-4.100.3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${2:-${KEFER_CS_DIR:-$ROOT/.cache/code-server-$VER}}
BIN=$DIR/node_modules/.bin/code-server
if [ -x "$BIN" ] && [ -f "$DIR/.installed-$VER" ]; then echo "code-server $VER already in $DIR"; exit 0; fi
# npm refuses lifecycle scripts as root unless told; node-pty's postinstall runs `npx node-gyp`.
export npm_config_unsafe_perm=true npm_config_yes=true
mkdir -p "$DIR" && cd "$DIR"
[ -f package.json ] || echo '{"name":"kefer-code-server-host","private":true}' > package.json
# Phase 1: fetch code-server without its postinstall (which downloads ripgrep from GitHub); argon2 builds from source.
npm pkg set allowScripts.code-server=false allowScripts.argon2=true --json
npm install --no-audit --no-fund --loglevel=error "code-server@$VER"
# Phase 2: what code-server's postinstall.sh does, minus the ripgrep download (Debian's rg is linked instead).
cd node_modules/code-server/lib/vscode
node -e '
const fs = require("fs"); const p = JSON.parse(fs.readFileSync("package.json", "utf8"));
p.allowScripts = { "@parcel/watcher": true, "@vscode/deviceid": true, "@vscode/spdlog": true, kerberos: true,
  "native-watchdog": true, "node-pty": true, "@vscode/sqlite3": true, "@vscode/native-watchdog": true,
  "@vscode/ripgrep": false, "@vscode/windows-process-tree": false, "@vscode/windows-registry": false };
fs.writeFileSync("package.json", JSON.stringify(p, null, 2));'
npm install --no-audit --no-fund --omit=dev --loglevel=error
if [ ! -e node_modules/@vscode/ripgrep/bin/rg ]; then
  mkdir -p node_modules/@vscode/ripgrep/bin && ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
fi
rm -rf node_modules.asar && ln -s node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && npm install --no-audit --no-fund --omit=dev --loglevel=error)
touch "$DIR/.installed-$VER"
echo "code-server $VER installed in $DIR"
