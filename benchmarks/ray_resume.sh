#!/bin/sh
# Ray resume check: SIGKILL a Ray search mid-run, resume it, compare with an uninterrupted
# in-process run of the same seed. Run inside a loopback-only namespace:
#   unshare -n sh benchmarks/ray_resume.sh
set -u
cd "$(dirname "$0")/.."
rm -rf /tmp/rayres /tmp/rayref
ip link set lo up
ARGS="--space mbconv --strategy hyperband --dataset digits --trials 13 --min-budget 1 --max-budget 3 --final-budget 1 --no-baseline --seed 4"
.venv/bin/hasearch search $ARGS --executor ray --workers 2 --out /tmp/rayres > /tmp/rayres1.log 2>&1 &
PID=$!
while true; do
  n=$(.venv/bin/python -c "
import sqlite3
try:
    c=sqlite3.connect('/tmp/rayres/trials.sqlite'); print(list(c.execute(\"select count(*) from trials where status='finished'\"))[0][0])
except Exception: print(0)" 2>/dev/null)
  [ "$n" -ge 5 ] && break
  sleep 2
done
kill -9 $PID
echo "killed driver after $n finished trials"
.venv/bin/ray stop --force > /dev/null 2>&1
.venv/bin/python -c "
import sqlite3; c=sqlite3.connect('/tmp/rayres/trials.sqlite'); print('after kill:', list(c.execute('select status,count(*) from trials group by status')))"
.venv/bin/hasearch resume /tmp/rayres > /tmp/rayres2.log 2>&1
echo "resume rc=$?"
.venv/bin/hasearch search $ARGS --out /tmp/rayref > /tmp/rayref.log 2>&1
echo "reference (in-process, uninterrupted) rc=$?"
.venv/bin/python - <<'PY'
from hasearch.store import RunDir
def rec(p):
    r = RunDir.open(p); rows = [(t.trial_id, repr(sorted(t.config.items())), t.budget, t.status.value) for t in r.db.trials()]; r.close(); return rows
a, b = rec('/tmp/rayres'), rec('/tmp/rayref')
ids = [x[0] for x in a]
print('resumed ray run: trials', len(a), 'finished', sum(x[3]=='finished' for x in a), 'duplicate ids', len(ids)-len(set(ids)))
print('reference run: trials', len(b), 'finished', sum(x[3]=='finished' for x in b))
from collections import Counter
print('same multiset of (configuration, budget, status):', Counter(x[1:] for x in a) == Counter(x[1:] for x in b))
PY
.venv/bin/hasearch show /tmp/rayres | tail -3
