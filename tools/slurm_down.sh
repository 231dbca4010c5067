#!/usr/bin/env bash
# Stop the daemons that tools/slurm_up.sh started (listed in $SLURM_DIR/started), by PID.
SLURM_DIR=${SLURM_DIR:-/tmp/skelvis-slurm}
[ -f "$SLURM_DIR/started" ] || exit 0
# reverse order: slurmd, slurmctld, then munged
tac "$SLURM_DIR/started" | while read -r f; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null && echo "slurm_down: stopped $(basename "$f" .pid) ($pid)"
  for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
done
: > "$SLURM_DIR/started"
