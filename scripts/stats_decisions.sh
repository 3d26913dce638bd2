#!/usr/bin/env bash
# The simulations behind the decisions in docs/statistics.md and the numbers in
# docs/benchmarks.md ("Statistics: simulation"). Each run writes its tables to $OUT/<name>.txt
# and its JSON to $OUT/<name>.json. 15-30 minutes on 2 cores.
set -euo pipefail
OUT=${OUT:-sim-out}
export COLUMNS=${COLUMNS:-160}
mkdir -p "$OUT"
PAPER=(--pairs 100 --inputs 50000 --pairs-per-study 50 --seed 0
       --draws 10,25,50,100,200,400,800,1600,3200,6400,12800 --also-targets 0.2,0.15,0.1)
ALL=majority,mean,bragg-uniform,bragg-model,bragg-beta,bragg-model-em,bragg-model-corrected,ds-model,ds-act,ds-act-soft
run() { local name=$1; shift; turkops simulate "$@" --json "$OUT/$name.json" > "$OUT/$name.txt"; }

# 1. The paper-like setting: symmetric 23% errors, rare concepts (0.1-1%), N = 50,000; cheap
#    model AUC 0.95 and 0.99.
run paper "${PAPER[@]}" --eta 0.23 --aggregators "$ALL"
run paper-auc99 "${PAPER[@]}" --eta 0.23 --auc 0.99 --aggregators "$ALL"
# 2. Sampling alone: exact labels, one rating per input; also the proposal/estimator choices
#    (the default ε is 0.01).
for auc in 0.95 0.99; do
  run "sampling-auc$auc" "${PAPER[@]}" --eta 0 --raters 1 --aggregators majority --auc "$auc"
  run "sampling-auc$auc-sn" "${PAPER[@]}" --eta 0 --raters 1 --aggregators majority --auc "$auc" \
    --self-normalised
  for eps in 0 0.1 1; do
    run "sampling-auc$auc-eps$eps" "${PAPER[@]}" --eta 0 --raters 1 --aggregators majority \
      --auc "$auc" --samplers mg-is --eps "$eps"
  done
done
# 3. Errors concentrated on inputs with the concept (2% false positives).
run asymmetric "${PAPER[@]}" --eta 0.23 --false-positive-rate 0.02 \
  --aggregators majority,bragg-uniform,bragg-model,bragg-model-em,ds-model,ds-act
# 4. Crowds with spammers and with per-rater Beta errors: per-worker models.
for errors in spammers beta; do
  run "raters-$errors" "${PAPER[@]}" --rater-errors "$errors" --spammer-share 0.25 \
    --aggregators majority,bragg-model,bragg-model-em,ds-model,ds-act
done
