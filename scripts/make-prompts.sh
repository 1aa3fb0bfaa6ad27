#!/usr/bin/env bash
# Regenerates the default prompts in prompts/ with espeak-ng and sox: 8 kHz, 16-bit, mono
# WAV, the only format the media engine plays. The file stem is the prompt id used by the
# API and the configuration ("welcome", "digit-7", "music-on-hold", ...).
#
#   scripts/make-prompts.sh            # writes prompts/*.wav
#   VOICE=en-gb scripts/make-prompts.sh
#
# The generated files are committed, so running this is only needed to change them.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || {
    echo "installing espeak-ng and sox" >&2
    apt-get install -y --no-install-recommends espeak-ng sox >/dev/null
  }
done

out=prompts
voice=${VOICE:-en-us}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 8 kHz 16-bit mono, peak at -3 dBFS, a short fade so prompts never click.
to_prompt() {
  sox "$1" -r 8000 -c 1 -b 16 -e signed-integer "$2" norm -3 fade t 0.01 0 0.02
}

say() {
  local id=$1 text=$2
  espeak-ng -v "$voice" -s 150 -w "$tmp/$id.wav" "$text"
  to_prompt "$tmp/$id.wav" "$out/$id.wav"
}

say welcome "Welcome, and thank you for calling."
say please-hold "Please hold. The next available person will answer your call."
say position-you-are "You are number"
say position-in-line "in line."
say wait-minutes "Expected waiting time, in minutes:"
say busy "The person you are calling is busy."
say busy-choices "Press 1 to wait for them. Press 2 to leave a message."
say unavailable "Nobody can take your call right now."
say leave-message "Please leave your name, your company, what you are calling about and when we may call you back, after the tone. Press the pound key when you are done."
say message-number "We will call you back at"
say message-saved "Thank you. Your message has been saved."
say waiting-choices "Press 1 to keep waiting. Press 2 to leave a message. Press 3 and we will call you back, keeping your place in line."
say callback-confirmed "Thank you. We will call you back. Goodbye."
say invalid-choice "Sorry, that is not a valid choice."
say closed "We are closed now. Please call again during our opening hours."
say refused "We are sorry, we cannot take this call. Goodbye."
say offers-by-email "Thank you for your call. Please send your offer by e-mail: we read every one. Goodbye."
say in-a-meeting "I am sorry, this person is in a meeting and cannot take your call now."
say goodbye "Thank you for calling. Goodbye."
say screening-name "Please say your name, your company and what you are calling about after the tone, then press the pound key."
say screening-caller "You have a call from"
say screening-accept "Press 1 to take the call. Press 2 to decline it."
say enter-extension "Please enter the extension of the person you want to reach."
say callback-agent "This is a callback. Please stay on the line while we call the customer at"
say callback-customer "Hello. This is the call back you asked for. Please hold for a moment: you are first in line."
say callback-not-reached "The customer could not be reached. The callback will be tried again."
say on-hold "Your call is on hold. Please stay on the line."
for d in 0 1 2 3 4 5 6 7 8 9; do
  words=(zero one two three four five six seven eight nine)
  say "digit-$d" "${words[$d]}"
done

# The tone before a message: 1 kHz for half a second.
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$out/tone.wav" synth 0.5 sine 1000 gain -6 fade t 0.01 0 0.01

# Music on hold: a slow, soft chord progression (generated, so no licence to worry about),
# about 16 seconds, meant to be looped.
chord() { # duration, three frequencies
  sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/chord-$2.wav" \
    synth "$1" sine "$2" sine "$3" sine "$4" remix - gain -14 fade t 0.3 0 0.5
}
chord 4 261.63 329.63 392.00
chord 4 220.00 261.63 329.63
chord 4 174.61 220.00 261.63
chord 4 196.00 246.94 293.66
sox "$tmp/chord-261.63.wav" "$tmp/chord-220.00.wav" "$tmp/chord-174.61.wav" "$tmp/chord-196.00.wav" \
  "$out/music-on-hold.wav" norm -8
ls -1 "$out" | wc -l | xargs echo "prompts written:"
