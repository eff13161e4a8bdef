#!/usr/bin/env bash
# Set up voicecoach on a Debian/Ubuntu machine: system libraries, a .venv, the package.
# Idempotent: a second run only checks. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# System libraries: Festival with its HTS voice (the default voice), espeak-ng (the fallback
# voice, and pyttsx3's on Linux), PortAudio (sounddevice), sox (audio checks), libspeexdsp (the
# fallback echo canceller), PulseAudio and the ALSA pulse plugin (audio with no sound card); for
# the tests, flite's voices (the many-voice corpus, scripts/make_corpus.py, and
# the echo tests).
pkgs=(festival festvox-us-slt-hts espeak-ng libespeak-ng1 libportaudio2 sox libsox-fmt-all libspeexdsp1)
if [ "$want_test" = 1 ]; then
  pkgs+=(pulseaudio pulseaudio-utils libasound2-plugins alsa-utils flite)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$py" -m venv .venv
fi
extras="speech"
[ "$want_test" = 1 ] && extras="speech,test"
stamp=".venv/.voicecoach-installed-${extras//,/-}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing voicecoach[$extras] into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[$extras]"
  # Build the intent matcher's caches now (template expansions, sentence embeddings), so the
  # first thing a person says is answered at full speed.
  .venv/bin/python -c "from voicecoach.intents import load_matcher; load_matcher().warm_up()" \
    || echo "setup: could not prepare the intent matcher's cache (it will be built on first use)"
  touch "$stamp"
fi
