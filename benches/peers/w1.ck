// w1.ck — the "W1" comparison patch for ChucK, the same sound as w1.xtm renders
// in zonal (see compare.sh).
//
//   chuck --silent --srate:48000 benches/peers/w1.ck:/tmp/w1-chuck.wav
//
// 64 SinOscs at 110 * (1 + 0.37 k) Hz, each at 1/64, into one Gain; a OnePole
// lowpass at 2 kHz (pole exp(-2 pi 2000 / 48000)); a Delay of 12,000 samples
// whose input is the filtered signal plus half its own output, mixed 50/50
// with the filtered signal. ChucK resolves the feedback cycle with a one-sample
// lag (a UGen that is still being computed gives its previous output), so the
// Delay is set one sample short and the filtered signal reaches it through a
// one-sample Delay: both the first echo and each round trip take 12,000
// samples, as in the other versions. WvOut2 records the dac for 60 seconds.

"/tmp/w1-chuck.wav" => string path;
if (me.args() > 0) me.arg(0) => path;

Gain bank;
SinOsc partial[64];
for (0 => int k; k < 64; k++) {
    110.0 * (1.0 + 0.37 * k) => partial[k].freq;
    1.0 / 64.0 => partial[k].gain;
    partial[k] => bank;
}

OnePole lowpass;
0.7696654124932398 => lowpass.pole;

Delay lag;
1::samp => lag.max;
1::samp => lag.delay;
Gain delayIn;
Delay echo;
Gain feedback;
12000::samp => echo.max;
11999::samp => echo.delay;
0.5 => feedback.gain;

Gain mix;
0.5 => mix.gain;

bank => lowpass => lag => delayIn => echo => feedback => delayIn;
lowpass => mix;
echo => mix;
mix => dac;

dac => WvOut2 recorder => blackhole;
path => recorder.wavFilename;
60::second => now;
recorder.closeFile();
