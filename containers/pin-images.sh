#!/usr/bin/env bash
# Add the @sha256 digest of each base image to the FROM lines of containers/*/Dockerfile (make pin-images).
# Needs a networked machine with `crane` (go-containerregistry) or `skopeo`; RESOLVE overrides the command that
# prints the digest of the image reference given as its last argument. Lines already pinned are left alone.
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${RESOLVE:-}" ]; then
  if command -v crane >/dev/null; then RESOLVE="crane digest"
  elif command -v skopeo >/dev/null; then RESOLVE="skopeo inspect --format {{.Digest}} --no-tags"
  else echo "pin-images: needs crane or skopeo (or RESOLVE=<command>)" >&2; exit 2; fi
fi
for f in */Dockerfile; do
  while read -r image; do
    ref="$image"
    [[ "$RESOLVE" == skopeo* ]] && ref="docker://$image"
    digest=$($RESOLVE "$ref")
    [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "pin-images: $image: bad digest '$digest'" >&2; exit 2; }
    escaped=$(printf '%s' "$image" | sed 's/[.[\*^$/]/\\&/g')
    sed -E -i "s#^FROM ${escaped}( |\$)#FROM ${image}@${digest}\1#" "$f"
    echo "$f: $image@$digest"
  done < <(sed -n 's/^FROM \([^ @]*:[^ @]*\)\( .*\)\?$/\1/p' "$f")
done
