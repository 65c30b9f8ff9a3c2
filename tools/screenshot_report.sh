#!/bin/sh
# Render a hasearch HTML report (or comparison) in headless Chromium and save a screenshot,
# to check by eye that the page looks right in a real browser (issue: results, item 4).
#   sh tools/screenshot_report.sh runs/a/report.html /tmp/report.png [WIDTHxHEIGHT]
# Installs the Debian package `chromium` when it is missing (needs root and apt).
set -eu
page=$(readlink -f "$1")
shot=$2
size=${3:-1200x4000}
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$(echo "$size" | tr x ,)" \
    --screenshot="$shot" "file://$page" 2>/dev/null
echo "wrote $shot"
