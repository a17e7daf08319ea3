#!/usr/bin/env bash
# Check the live dashboard (`atompump watch`) in a real browser: simulate a small run, watch it with --once, take a
# screenshot of dashboard.html with headless Chromium, and check that the picture is not blank and that the page
# the browser rendered shows nu with the value of the live summary.json.
#
#   tools/dashboard-check.sh [PYTHON] [KEEP_DIR]  # PYTHON: interpreter with atompump installed (default: python3)
#                                                # KEEP_DIR: copy the page and the screenshot there (to look at)
#
# Chromium comes from Debian's packages (installed with apt-get when missing and running as root). Prints
# "DASHBOARD CHECK SKIPPED: <why>" and exits 0 when no browser can be had; "DASHBOARD CHECK PASSED: ..." and exits 0
# when the checks pass; exits 1 otherwise (the work folder is then kept and printed).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${1:-python3}"
case "$PYTHON" in */*) PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")" ;; esac  # absolute: the check runs elsewhere
KEEP="${2:-}"

find_browser() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }
BROWSER="$(find_browser)"
if [ -z "$BROWSER" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium (Debian package) ..."
  (apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) || true
  BROWSER="$(find_browser)"
fi
if [ -z "$BROWSER" ]; then
  echo "DASHBOARD CHECK SKIPPED: no Chromium here (apt-get install -y chromium, as root)"; exit 0
fi

WORK="$(mktemp -d /tmp/atompump-dashboard-check.XXXXXX)"
fail() { echo "DASHBOARD CHECK FAILED: $* (work folder kept: $WORK)"; exit 1; }
cd "$WORK"

# a small simulated run (rigid cloud, 24 shots of 64 x 128 pixels), then the live analysis of it
cat >run.yaml <<'EOF'
simulation: {cycles: [0, 1, 2, 3], repeats: 3, image_shape: [64, 128], position_jitter_um: 0.1,
             cloud_sigma_um: [4.0, 4.0], dynamics: rigid, references: false, order: interleaved}
imaging: {pixel_size_um: 1.0}
theory: {n_k: 12, n_phi: 24}
report: {title: "Dashboard check (simulated run)"}
EOF
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" REPO="$REPO" "$PYTHON" -c "
import os, yaml
from atompump.config import fill_defaults, load_schema
from atompump.stages.simulate import simulate_stage
config = fill_defaults(yaml.safe_load(open('run.yaml')), load_schema(os.path.join(os.environ['REPO'],
                       'workflow/schemas/config.schema.yaml')))
simulate_stage('run', simulation=config['simulation'], imaging=config['imaging'], lattice=config['lattice'],
               atom=config['atom'], pump=config['pump'])
" >simulate.log 2>&1 || fail "could not simulate the run (see $WORK/simulate.log)"
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m atompump.cli watch run --configfile run.yaml --out live \
  --once >watch.out 2>watch.log || fail "atompump watch failed (see $WORK/watch.log)"
cat watch.out

# the browser: a screenshot, and the page's text as the browser rendered it
"$BROWSER" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1000 \
  --screenshot="$WORK/dashboard.png" "file://$WORK/live/dashboard.html" >browser.log 2>&1 \
  || fail "Chromium could not take the screenshot (see $WORK/browser.log)"
"$BROWSER" --headless --no-sandbox --disable-gpu --dump-dom "file://$WORK/live/dashboard.html" \
  >dom.html 2>>browser.log || fail "Chromium could not render the page (see $WORK/browser.log)"

PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$WORK" <<'EOF' || fail "the page or its screenshot is wrong"
import json, re, sys
from pathlib import Path

import numpy as np
from PIL import Image

work = Path(sys.argv[1])
pixels = np.asarray(Image.open(work / "dashboard.png").convert("RGB"), dtype=float)
ink = float((pixels.sum(axis=2) < 600).mean())  # pixels clearly darker than white
colours = len(np.unique(pixels.reshape(-1, 3)[:: 7], axis=0))
print(f"screenshot {pixels.shape[1]} x {pixels.shape[0]} px: {ink:.1%} ink, {colours} colours")
assert ink > 0.01 and colours > 20, "the screenshot is blank"
summary = json.loads((work / "live/summary.json").read_text())
dom = (work / "dom.html").read_text()
text = re.sub(r"<[^>]+>", " ", dom)
text = re.sub(r"\s+", " ", text.replace("&plusmn;", "+-").replace("\u00b1", "+-"))
shown = f"{summary['nu']:.4f} +- {summary['nu_err']:.4f}"
print(f"page shows nu = {shown}: {'yes' if shown in text else 'NO'}")
assert "nu (displacement per cycle" in text and shown in text, "the page does not show nu"
assert 'alt="centre of mass against pump cycles' in dom, "the figures are missing"
EOF
if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$WORK/dashboard.png" "$WORK/live/dashboard.html" "$KEEP/"; fi
echo "DASHBOARD CHECK PASSED: Chromium ($("$BROWSER" --version 2>/dev/null | head -1)) shows the dashboard with nu"
rm -rf "$WORK"
