#!/usr/bin/env bash
# Extempore's example programs (examples/core/*.xtm named below) run unchanged and
# listened to: each program is loaded, as it is, by a `zonal test` file of ours that
# renders it in process (`render-for`) and checks what it should sound like — its
# pitches where it plays known ones, its level, the onsets of the scheduled notes.
# Run from an empty working directory, so that every `sys:load` of "libs/..."
# resolves to zonal's embedded libraries. Prints, per program, pass or fail (with
# the first error or the failed check).
#
#   EXTEMPORE=path/to/extempore benches/extempore/examples.sh   # a checkout or a bare clone
#   ZONAL=target/debug/zonal EXTEMPORE=... benches/extempore/examples.sh   # a given binary
#
# Not part of CI: the programs are Extempore's, not ours. zonal's own tests cover the
# features they use (engine/tests/extempore_programs.rs, instruments.rs, metro.rs...).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${EXTEMPORE:?set EXTEMPORE to a checkout (or bare clone) of github.com/digego/extempore}"
REV=${REV:-HEAD}
EXAMPLES=${EXAMPLES:-"hello-sine hello-stereo hello-sweep audio_101 scheduler topclock_metro fmsynth hello-mt mtaudio synth"}
if [ -n "${ZONAL:-}" ]; then
  zonal=$(realpath "$ZONAL")
else
  cargo build --release -q -p zonal-engine
  zonal=$PWD/target/release/zonal
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What each program should sound like, in zonal test's terms. TAKE is the render;
# (louder? CH F G FROM TO): F's level at least ten times G's on channel CH over
# samples FROM..TO; (hits TAKE CH FROM TO): how many notes start there (each
# doubles the level of the 5 ms before it); (rises? TAKE CH TIMES): the level
# rises at each of the samples TIMES.
listen() {
  case $1 in
    hello-sine) cat <<'X'
(define take (render-for 1.0))
(xtmtest-result (louder? take 0 440.0 550.0 4800 48000) #t "a 440 Hz sine")
(xtmtest-result (near? (audiotest_rms_range take 1 4800 48000) 0.354 0.01) #t "at half amplitude")
X
    ;;
    hello-stereo) cat <<'X'
(define take (render-for 1.0))
(xtmtest-result (louder? take 0 330.0 550.0 4800 48000) #t "330 Hz on the left")
(xtmtest-result (louder? take 1 550.0 330.0 4800 48000) #t "550 Hz on the right")
X
    ;;
    hello-sweep) cat <<'X'
(define take (render-for 2.0))
(xtmtest-result (louder? take 0 330.0 770.0 4800 40000) #t "330 Hz first")
(xtmtest-result (louder? take 0 770.0 330.0 48000 96000) #t "770 Hz after 44,100 samples")
X
    ;;
    audio_101) cat <<'X'
(define take (render-for 6.0))
(xtmtest-result (near? (audiotest_rms_range take 0 48000 288000) 0.212 0.03) #t "the last oscillator on the left")
(xtmtest-result (near? (audiotest_rms_range take 1 48000 288000) 0.212 0.03) #t "the last oscillator on the right")
(xtmtest-result (near? (audiotest_peak take 0) 0.3 0.001) #t "at 0.3")
X
    ;;
    scheduler) cat <<'X'
(define take (render-for 6.0))
;; the program sets 200 bpm before the scheduler's first tick, so beat 1 is sample 0
;; and a beat 14,400 samples: three notes at once now, then three on every beat
;; from beat 4 (sample 43,200)
(xtmtest-result (> (audiotest_rms_range take 0 0 4800) 0.01) #t "the first notes at once")
(xtmtest-result (< (audiotest_rms_range take 0 33600 43000) 0.001) #t "quiet before beat 4")
(xtmtest-result (rises? take 0 (map (lambda (k) (+ 43200 (* k 14400))) (range 17))) #t
                "a note on every beat from beat 4 at 200 bpm")
(xtmtest-result (>= (hits take 0 43000 288000) 17) #t "the scheduled notes")
X
    ;;
    topclock_metro) cat <<'X'
(define take (render-for 14.0))
(xtmtest-result (audiotest_rms_range take 0 0 470000) 0 "silent for its first ten seconds")
(xtmtest-result (>= (hits take 0 480000 672000) 3) #t "a note a beat from then on")
X
    ;;
    synth) cat <<'X'
(define take (render-for 6.0))
;; two analogue presets (bass and lead) by Extempore's set_* calls; playp's loop
;; starts at beat 4, sample 92,160 at 125 bpm
(xtmtest-result (audiotest_rms_range take 0 0 91000) 0 "silent until the next bar")
(xtmtest-result (> (audiotest_rms_range take 0 92160 140000) 0.05) #t "the bass from beat 4")
(xtmtest-result (louder? take 0 65.41 92.5 92160 288000) #t "the bass's C2 (C4 tuned down two octaves)")
(xtmtest-result (louder? take 0 130.81 92.5 92160 288000) #t "and its saw's C3")
X
    ;;
    fmsynth) cat <<'X'
(define take (render-for 4.0))
(xtmtest-result (audiotest_rms_range take 0 0 95000) 0 "silent until the next bar")
(xtmtest-result (rises? take 0 (map (lambda (k) (+ 96000 (* k 6000))) (range 16))) #t
                "a note every quarter beat from beat 4 at 120 bpm")
(xtmtest-result (< (audiotest_peak take 0) 1.0) #t "no clipping")
X
    ;;
    hello-mt) cat <<'X'
(define take (render-for 1.0))
;; three closures on their own lanes, summed by the DSPMT closure
(xtmtest-result (louder? take 0 330.0 440.0 4800 48000) #t "330 Hz from the first lane")
(xtmtest-result (louder? take 0 550.0 440.0 4800 48000) #t "550 Hz from the second")
(xtmtest-result (louder? take 0 770.0 440.0 4800 48000) #t "770 Hz from the third")
X
    ;;
    mtaudio) cat <<'X'
(define take (render-for 4.0))
;; three instruments on lanes, mixed through a reverb by the DSPMT closure: quiet until
;; the next bar (beat 4, sample 96,000), then notes every quarter beat, which analogue's
;; release and the reverb run together: sound in every quarter beat from there
(xtmtest-result (audiotest_rms_range take 0 0 95000) 0 "silent until the next bar")
(xtmtest-result (> (audiotest_rms_range take 0 96000 96600) 0.01) #t "the first notes on the bar")
(xtmtest-result (let loop ((t 96000))
                  (or (>= t 186000)
                      (and (> (audiotest_rms_range take 0 t (+ t 6000)) 0.01) (loop (+ t 6000)))))
                #t "sound in every quarter beat")
(xtmtest-result (> (audiotest_rms_range take 1 96000 192000) 0.01) #t "both channels")
(xtmtest-result (< (audiotest_peak take 0) 1.0) #t "no clipping")
X
    ;;
  esac
}

for name in $EXAMPLES; do
  src="$work/$name.xtm"
  if [ -d "$EXTEMPORE/examples/core" ]; then
    cp "$EXTEMPORE/examples/core/$name.xtm" "$src"
  else
    git -C "$EXTEMPORE" show "$REV:examples/core/$name.xtm" > "$src"
  fi
  test="$work/listen-$name.xtm"
  {
    echo "(sys:load \"$name.xtm\")"
    cat <<'X'
(define (near? x want tolerance) (< (abs (- x want)) tolerance))
(define (louder? take ch f g from to)
  (> (audiotest_goertzel_range take ch f from to)
     (* 10.0 (audiotest_goertzel_range take ch g from to))))
;; the level rises where each of TIMES starts a note
(define (rises? take ch times)
  (or (null? times)
      (and (> (audiotest_rms_range take ch (car times) (+ (car times) 600))
              (* 1.05 (audiotest_rms_range take ch (- (car times) 600) (car times))))
           (rises? take ch (cdr times)))))
(define (hits take ch from to)
  (let loop ((t (+ from 240)) (n 0) (quiet-since 0))
    (if (>= (+ t 240) to)
        n
        (let ((now-level (audiotest_rms_range take ch t (+ t 240)))
              (before (audiotest_rms_range take ch (- t 240) t)))
          (if (and (> now-level 0.002) (> now-level (* 2.0 before)) (> (- t quiet-since) 2400))
              (loop (+ t 240) (+ n 1) t)
              (loop (+ t 240) n quiet-since))))))
X
    listen "$name"
  } > "$test"
  if out=$(cd "$work" && timeout 300 "$zonal" test --out-dir "$work/out" "$test" 2>&1) \
     && grep -q ' 0 failed in ' <<<"$out"; then
    status="pass"
  else
    status="FAIL: $(grep -m1 -iE 'error|fail' <<<"$out" | cut -c1-140)"
  fi
  printf '%-16s %s\n' "$name" "$status"
done
