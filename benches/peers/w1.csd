; w1.csd — the "W1" comparison patch for Csound, the same sound as w1.xtm
; renders in zonal (see compare.sh).
;
;   csound -d -m0 -W -f -o /tmp/w1-csound.wav benches/peers/w1.csd
;
; Instrument 1 is one partial; instrument 2 starts 64 of them at
; 110 * (1 + 0.37 k) Hz, each at 1/64, all adding into the global bus gasum.
; Instrument 3 runs after them in every control period: `tone` (a one-pole
; lowpass) at 2 kHz, then a 0.25 s delay line whose input is the filtered
; signal plus half its own output, mixed 50/50 with the filtered signal.

<CsoundSynthesizer>
<CsOptions>
-d -m0
</CsOptions>
<CsInstruments>
sr = 48000
ksmps = 64
nchnls = 2
0dbfs = 1

gisine ftgen 0, 0, 65536, 10, 1
gasum init 0

instr 1
  asig poscil 1/64, p4, gisine
  gasum = gasum + asig
endin

instr 2
  ik = 0
  while ik < 64 do
    event_i "i", 1, 0, p3, 110 * (1 + 0.37 * ik)
    ik += 1
  od
endin

instr 3
  alp tone gasum, 2000
  awet delayr 0.25
  delayw alp + 0.5 * awet
  aout = 0.5 * alp + 0.5 * awet
  outs aout, aout
  gasum = 0
endin
</CsInstruments>
<CsScore>
i 2 0 60
i 3 0 60
</CsScore>
</CsoundSynthesizer>
