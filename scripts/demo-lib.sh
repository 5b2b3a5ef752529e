# Shared by scripts/demo.sh and scripts/demo-anomaly.sh (sourced, not run).

# train_pair: trains ThinkJEPA and JEPA-only side by side, one core each (two
# single-threaded runs do twice the work of one two-threaded run at the demos' sizes),
# each from the config `run_json MODE` prints (the caller defines run_json). Needs BIN,
# OUT and SEED; writes $OUT/runs/MODE-sSEED.{json,log}; stops the demo if either fails.
train_pair() {
  mkdir -p "$OUT/runs"
  local pids=() m i
  for m in thinkjepa jepa-only; do
    run_json "$m" > "$OUT/runs/$m-s$SEED.json"
    GOMAXPROCS=1 OPENBLAS_NUM_THREADS=1 "$BIN" train --config "$OUT/runs/$m-s$SEED.json" > "$OUT/runs/$m-s$SEED.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1; do
    if ! wait "${pids[$i]}"; then
      m=$([ "$i" = 0 ] && echo thinkjepa || echo jepa-only)
      echo "training $m failed; the end of $OUT/runs/$m-s$SEED.log:" >&2
      tail -5 "$OUT/runs/$m-s$SEED.log" >&2
      exit 1
    fi
  done
}
