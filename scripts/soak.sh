#!/usr/bin/env bash
# The soak test (tests/soak.rs), in release: four threads exchange blocks
# and objects for OBJIMPL_SOAK_OPS operations each (default 3 billion,
# about ten minutes on two cores), checked against a model at 20
# checkpoints, with resident memory sampled every second.
#
#   scripts/soak.sh              # the default count
#   scripts/soak.sh 20000000     # a shorter run
set -euo pipefail
cd "$(dirname "$0")/.."
export OBJIMPL_SOAK_OPS=${1:-3000000000}
cargo test --release --test soak -- --ignored --nocapture
