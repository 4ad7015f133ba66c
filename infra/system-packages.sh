#!/usr/bin/env bash
# Debian packages snowdays runs on: PostgreSQL with PostGIS (the STAC API's database), Chromium (the
# viewer and UI tests), Node.js and npm (the viewer's build). Installed only when missing; needs root
# (or sudo) the first time.
set -euo pipefail
missing=()
compgen -G "/usr/share/postgresql/*/extension/postgis.control" >/dev/null || missing+=(postgresql-15-postgis-3)
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
