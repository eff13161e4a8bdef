#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine: set up, then run the spoken demo
# (no microphone needed). Extra arguments go to 'voicecoach demo'.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/voicecoach demo "$@"
