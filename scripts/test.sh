#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian/Ubuntu machine: sets up what it needs
# (system packages, .venv, PulseAudio with null sinks for the audio tests), then runs pytest.
# Extra arguments go to pytest, e.g. scripts/test.sh -k engine
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
# shellcheck source=scripts/audio-env.sh
. scripts/audio-env.sh
audio_up
trap audio_down EXIT

# The suite runs with no network where the machine allows a private network namespace:
# nothing but 'voicecoach models download' may touch the network.
runner=()
if [ "${VOICECOACH_TEST_NETWORK:-}" != "1" ] && unshare -n true 2>/dev/null; then
  runner=(unshare -n)
  echo "test: running with the network cut off (unshare -n)"
fi
# Types first: a type error fails the run before the long suite starts.
echo "test: mypy voicecoach"
.venv/bin/mypy voicecoach
set +e
"${runner[@]}" .venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 "$@"
rc=$?
set -e
exit $rc
