#!/usr/bin/env bash
# Draws a report page the way a reader first sees it (1280×800, headless Chromium) for the
# docs: `tools/report-screenshot/run.sh .build/demo/lenet300-agp90.report.html docs/report-demo.png`.
# Needs Debian's chromium (the report tests install it through `make test`).
set -euo pipefail
page=${1:?usage: run.sh REPORT.html OUT.png [WIDTH,HEIGHT]}
out=${2:?usage: run.sh REPORT.html OUT.png [WIDTH,HEIGHT]}
size=${3:-1280,800}
browser=$(command -v chromium || command -v chromium-browser) || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=127.0.0.1:9 \
    --user-data-dir="$profile" --window-size="$size" --screenshot="$out" "file://$(realpath "$page")" 2>/dev/null
echo "wrote $out"
