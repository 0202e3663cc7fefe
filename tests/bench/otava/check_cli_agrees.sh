#!/usr/bin/env bash
# Checks that otava_changepoints.py (Otava's analysis called in-process)
# finds the same change points as Otava's own CLI, `otava analyze`, fed the
# same values through its documented CSV importer (docs/CSV.md in Otava: a
# `tests: {NAME: {type: csv, file, time_column, attributes, metrics}}`
# config file).
#
#   tests/bench/otava/check_cli_agrees.sh          # exit 0: they agree
#
# The histories are make_samples.py's sanity set (clean, +50 % step, one
# outlier, -20 % step; 80 points each), written as the four metric columns
# of one CSV with hourly times ending an hour ago (the CLI only reads the
# last 365 days unless told otherwise) and a commit attribute. They are
# compared whole (80 points) and cut after the outlier (41 points, the
# outlier last), under three settings: Otava's defaults; --window 30 -M 0.05;
# -P 0.01 (0.8.0's p-value option is named "-P, --p-value": -P works,
# --p-value does not). For each change point: the same index, the same
# direction, and magnitude and p-value equal to the CLI's 6 decimals.
#
# Otava: $PERFKIT_OTAVA_VENV, else target/venvs/otava (created by tests/run
# from tests/tools/requirements-otava.txt). Takes ~25 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
venv=${PERFKIT_OTAVA_VENV:-${PERFKIT_VENVS:-$root/target/venvs}/otava}
py=$venv/bin/python
if [ ! -x "$venv/bin/otava" ]; then
  echo "error: no Otava in $venv (tests/run creates it; or: python3 -m venv $venv &&" \
    "$venv/bin/pip install -r $root/tests/tools/requirements-otava.txt)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" "$here/make_samples.py" > "$tmp/samples.json"

# The CSV files and the config, plus one driver input per setting.
"$py" - "$tmp" <<'EOF'
import datetime, json, sys
tmp = sys.argv[1]
histories = json.load(open(f"{tmp}/samples.json"))["histories"]
names = [h["id"] for h in histories]
now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
n = len(histories[0]["values"])
config = ["tests:"]
for k in (n, 41):
    with open(f"{tmp}/h{k}.csv", "w") as f:
        f.write("time,commit," + ",".join(names) + "\n")
        for i in range(k):
            t = now - datetime.timedelta(hours=n - i)
            f.write(f"{t.isoformat()},c{i}," + ",".join(repr(h["values"][i]) for h in histories) + "\n")
    config += [f"  h{k}:", "    type: csv", f"    file: {tmp}/h{k}.csv", "    time_column: time",
               "    attributes: [commit]", f"    metrics: [{', '.join(names)}]"]
open(f"{tmp}/otava.yaml", "w").write("\n".join(config) + "\n")
settings = {"defaults": {}, "w30m05": {"window_len": 30, "min_magnitude": 0.05},
            "p01": {"max_pvalue": 0.01}}
for name, overrides in settings.items():
    doc = dict(overrides, histories=[dict(h, prefixes=[n, 41]) for h in histories])
    json.dump(doc, open(f"{tmp}/in-{name}.json", "w"))
EOF

status=0
for setting in defaults w30m05 p01; do
  case $setting in
    defaults) flags=() ;;
    w30m05) flags=(--window 30 -M 0.05) ;;
    p01) flags=(-P 0.01) ;;
  esac
  "$py" "$here/otava_changepoints.py" "$tmp/in-$setting.json" > "$tmp/driver-$setting.json" \
    2> "$tmp/driver-$setting.log" || {
    echo "error: otava_changepoints.py failed:" >&2; cat "$tmp/driver-$setting.log" >&2; exit 1; }
  # HOME: keep a user's ~/.otava config out of it. One JSON report per test, one per line.
  (cd "$tmp" && HOME=$tmp "$venv/bin/otava" analyze --config-file "$tmp/otava.yaml" \
    --output json "${flags[@]}" h80 h41 > "$tmp/cli-$setting.json" 2> "$tmp/cli-$setting.log") || {
    echo "error: otava analyze failed:" >&2; cat "$tmp/cli-$setting.log" >&2; exit 1; }
  "$py" - "$tmp" "$setting" <<'EOF' || status=1
import json, sys
tmp, setting = sys.argv[1:]
driver = json.load(open(f"{tmp}/driver-{setting}.json"))
cli = {}
for line in open(f"{tmp}/cli-{setting}.json"):
    if line.strip():
        cli.update(json.loads(line))
bad = 0
for test, groups in sorted(cli.items()):
    k = test[1:]
    found = {name: [] for name in driver}
    for group in groups:
        for c in group["changes"]:
            found[c["metric"]].append(c)
    for name in driver:
        ours = driver[name][k]
        theirs = sorted(found[name], key=lambda c: c["index"])
        same = len(ours) == len(theirs) and all(
            o["index"] == t["index"]
            and o["direction"] == ("increase" if float(t["mean_after"]) > float(t["mean_before"]) else "decrease")
            and abs(o["magnitude"] - float(t["magnitude"])) <= 5e-7 + 1e-9 * abs(o["magnitude"])
            and abs(o["pvalue"] - float(t["pvalue"])) <= 5e-7
            for o, t in zip(ours, theirs))
        shown = ", ".join(f"{o['index']} {o['direction']} p={o['pvalue']:.2g} m={o['magnitude']:.3f}" for o in ours)
        print(f"{'ok  ' if same else 'DIFF'} {setting:8} {name:8} {k:>3} points: [{shown}]")
        if not same:
            bad += 1
            print(f"     cli: {[(t['index'], t['magnitude'], t['pvalue']) for t in theirs]}")
if set(cli) != {"h80", "h41"}:
    print(f"DIFF {setting}: the CLI reported tests {sorted(cli)}")
    bad += 1
sys.exit(1 if bad else 0)
EOF
done
if [ $status -eq 0 ]; then
  echo "check_cli_agrees: the in-process analysis and otava analyze agree"
else
  echo "check_cli_agrees: they DIFFER (above)" >&2
fi
exit $status
