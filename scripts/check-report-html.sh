#!/usr/bin/env bash
# Needs chromium: apt-get install -y chromium   (and the project's .venv: make setup)
#
# Check that the HTML ledger report renders in a real headless browser.
#
#   bash scripts/check-report-html.sh [OUT_DIR]
#
# Without OUT_DIR the files go to a temporary folder that is removed at the end; give
# OUT_DIR to keep them (OUT_DIR/report.png is a screenshot of the page).
#
# 1. builds a small ledger (60 days, 4 tenants, 6 deployments, ~3,000 records) with one
#    confidential request served by an API (an offender the compliance section must
#    list), one served by the self-hosted GPU (on your machines: not an offender), and a
#    tenant named <script>alert(1)</script> (names must be escaped),
# 2. writes OUT_DIR/report.html with the report command (`--html`),
# 3. runs chromium headless on it (file://, no network: background networking,
#    component updates and sync off, a throw-away profile) twice: --dump-dom, checked
#    for the two SVG charts, the compliance line, the offender, the escaped name; and
#    --screenshot, checked to be a 1200x1600 PNG that is not blank,
# 4. prints every check with ok or FAIL.
#
# Exits 0 when every check passes, non-zero otherwise.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$HERE/.venv/bin/python}"

command -v chromium >/dev/null || { echo "chromium not found: apt-get install -y chromium" >&2; exit 1; }
[ -x "$PY" ] || { echo "$PY not found: run make setup (or set PYTHON)" >&2; exit 1; }

TMP="$(mktemp -d)"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
if [ $# -ge 1 ]; then
    mkdir -p "$1"
    OUT="$(cd "$1" && pwd)"
else
    OUT="$TMP/out"
    mkdir -p "$OUT"
fi
LEDGER="$OUT/ledger.sqlite"
PAGE="$OUT/report.html"
SHOT="$OUT/report.png"
DOM="$OUT/report.dom.html"
LOG="$OUT/chromium.log"

rm -f "$LEDGER" "$LEDGER-wal" "$LEDGER-shm"
(cd "$HERE" && "$PY" - "$LEDGER" <<'EOF'
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
from bench_report import make_ledger  # the benchmark's realistic synthetic records

path = Path(sys.argv[1])
make_ledger(path, 3000)
# 60 days with a rising spend, four tenants (one with a hostile name), one confidential
# request served by an API (the compliance section must list it) and one served by the
# self-hosted GPU (on your machines: it must not be listed).
day0, span = 1_735_689_600, 60 * 86_400 / 3000
first_ok = "(SELECT MIN(id) FROM records WHERE id >= ? AND outcome = 'ok' AND fallbacks = 0)"
with sqlite3.connect(path) as conn:
    conn.execute("UPDATE records SET tenant = 'globex' WHERE tenant NOT IN ('acme', 'initech')")
    conn.execute("UPDATE records SET tenant = '<script>alert(1)</script>' WHERE id % 97 = 0")
    conn.execute(
        "UPDATE records SET ts = ? + id * ?, day = strftime('%Y-%m-%d', ? + id * ?, 'unixepoch'),"
        " cost_micro = CAST(cost_micro * (1 + id / 1500.0) AS INTEGER)",
        (day0, span, day0, span),
    )
    for start, served_by, hosting in ((2024, "gpt-4o", "api"), (2500, "gpu-llama", "self-hosted")):
        changed = conn.execute(
            "UPDATE records SET sensitivity = 'confidential', served_by = ?, hosting = ?"
            f" WHERE id = {first_ok}",
            (served_by, hosting, start),
        ).rowcount
        assert changed == 1, f"no record to make confidential on {served_by}"
conn.close()
print(f"ledger: {path}")
EOF
)

(cd "$HERE" && "$PY" -m router report --ledger "$LEDGER" --html "$PAGE" >"$OUT/report.txt")
echo "page:   $PAGE"

CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-background-networking
        --disable-component-update --disable-sync --no-first-run
        --user-data-dir="$TMP/profile" --window-size=1200,1600)
if ! "${CHROME[@]}" --dump-dom "file://$PAGE" >"$DOM" 2>"$LOG" \
   || ! "${CHROME[@]}" --screenshot="$SHOT" "file://$PAGE" >>"$LOG" 2>&1; then
    echo "chromium failed; its log:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
fi

echo "checks (chromium $(chromium --version 2>/dev/null | awk '{print $2}'), DOM and screenshot):"
status=0
"$PY" - "$DOM" "$SHOT" <<'EOF' || status=$?
import re
import sys
from pathlib import Path

dom, png = Path(sys.argv[1]).read_text(), Path(sys.argv[2]).read_bytes()
table = re.search(r'<table id="compliance-table">.*?</table>', dom, re.S)
checks = {
    "two SVG charts": dom.count("<svg") == 2,
    "spend and baseline lines": dom.count("<polyline") == 2,
    "deployment bars": dom.count('class="bar"') >= 3,
    "compliance line (1 offender)": (
        "confidential-or-above requests served by non-local deployments: 1" in dom
    ),
    "offender listed (API)": "served by gpt-4o (api)" in dom,
    "self-hosted not an offender": "served by gpu-llama" not in dom,
    "offending cell marked": table is not None and table[0].count('class="bad"') == 1,
    "on-your-machines share shown": "on your machines (local or self-hosted)" in dom,
    "tenant name escaped": "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    and "<script>alert" not in dom,
    "PNG 1200x1600": png[:8] == b"\x89PNG\r\n\x1a\n"
    and (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1200, 1600),
    "PNG not blank (> 30 KB)": len(png) > 30_000,
}
for name, passed in checks.items():
    print(f"  {'ok  ' if passed else 'FAIL'} {name}")
failed = [name for name, passed in checks.items() if not passed]
print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
sys.exit(1 if failed else 0)
EOF
if [ $# -ge 1 ]; then
    echo "kept: $OUT (report.html, report.png, report.txt, report.dom.html, ledger.sqlite)"
fi
exit "$status"
