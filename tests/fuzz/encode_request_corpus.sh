#!/usr/bin/env bash
# Regenerates tests/fuzz/corpus/generate_request_fuzz/*.pb, the binary GenerateRequests of the seed
# corpus, from their readable sources tests/fuzz/corpus_src/generate_request_fuzz/*.textproto
# (protobuf text format, one request per file; '#' lines are comments). Run it after editing or
# adding a .textproto and commit both. Needs Debian's protoc (protobuf-compiler).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=tests/fuzz/corpus_src/generate_request_fuzz
out=tests/fuzz/corpus/generate_request_fuzz
mkdir -p "$out"
for textproto in "$src"/*.textproto; do
  name=$(basename "$textproto" .textproto)
  protoc --proto_path=proto --encode=kvserve.v1.GenerateRequest proto/kvserve/v1/kvserve.proto \
    < "$textproto" > "$out/$name.pb"
done
echo "encode_request_corpus: $(ls "$src"/*.textproto | wc -l) requests in $out"
