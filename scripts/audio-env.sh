# Sourced by scripts/test.sh: a PulseAudio daemon with null sinks, so audio tests run with no
# sound card. PortAudio (sounddevice) reaches it through the ALSA "pulse" plugin.
# audio_up starts it (if not already running) and exports what the tests need; audio_down
# stops it if audio_up started it.

_vc_pulse_started=0

audio_up() {
  if ! command -v pulseaudio >/dev/null 2>&1; then
    echo "test: pulseaudio is not installed; audio tests will be skipped"
    return 0
  fi
  export VOICECOACH_PULSE=1
  if pactl info >/dev/null 2>&1; then
    :
  else
    pulseaudio -D --exit-idle-time=-1 --disallow-exit --log-target=stderr -n \
      --load="module-native-protocol-unix" --load="module-null-sink sink_name=room sink_properties=device.description=room" \
      >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do
      pactl info >/dev/null 2>&1 && break
      sleep 0.1
    done
    if pactl info >/dev/null 2>&1; then
      _vc_pulse_started=1
    else
      echo "test: could not start PulseAudio; audio tests will be skipped"
      unset VOICECOACH_PULSE
      return 0
    fi
  fi
  pactl list short sinks 2>/dev/null | grep -q '^[0-9]*\s*room\s' || \
    pactl load-module module-null-sink sink_name=room sink_properties=device.description=room >/dev/null
  pactl set-default-sink room >/dev/null 2>&1 || true
  pactl set-default-source room.monitor >/dev/null 2>&1 || true
  # PortAudio → ALSA → PulseAudio
  if [ ! -f /etc/asound.conf ] && [ ! -f "$HOME/.asoundrc" ]; then
    printf 'pcm.!default { type pulse }\nctl.!default { type pulse }\n' > "$HOME/.asoundrc"
  fi
}

audio_down() {
  if [ "$_vc_pulse_started" = 1 ]; then
    pulseaudio --kill >/dev/null 2>&1 || true
  fi
}
