//! MIDI through the machine's sequencer and a live engine (`zonal play --no-audio`):
//! zonal's virtual ports, connected to by this test with `midir` as another program
//! would, carry a note into `midi-note-on` and `play-midi-note`'s note-on and note-off
//! out. Where the machine has no ALSA sequencer (a container without /dev/snd/seq),
//! the MIDI procedures must say so clearly, and that is what is checked.

mod live;

use std::time::Duration;

use live::{Live, eval, eval_until};
use midir::{MidiInput, MidiOutput};

fn has_sequencer() -> bool {
    !cfg!(target_os = "linux") || std::path::Path::new("/dev/snd/seq").exists()
}

#[test]
fn without_a_sequencer_the_midi_procedures_say_so_and_the_engine_goes_on() {
    if has_sequencer() {
        return through_the_sequencer_a_note_reaches_the_handler_and_notes_go_out();
    }
    let live = Live::start(&["play", "--no-audio", "--port", "0"]);
    let mut editor = live.connect();
    for src in [
        "(midi:inputs)",
        "(midi:outputs)",
        "(midi:open-input 0)",
        "(midi:virtual-output \"zonal out\")",
    ] {
        let e = eval(&mut editor, src);
        assert!(
            e.contains(
                "MIDI is not available: this machine has no ALSA sequencer (/dev/snd/seq is missing"
            ),
            "{src}: {e}"
        );
    }
    assert_eq!(eval(&mut editor, "(+ 1 2)"), "3");
}

/// The real thing, where the kernel offers a sequencer.
fn through_the_sequencer_a_note_reaches_the_handler_and_notes_go_out() {
    let live = Live::start(&["play", "--no-audio", "--port", "0", "--buffer", "64"]);
    let mut editor = live.connect();
    eval(
        &mut editor,
        "(define got '()) \
         (define (midi-note-on time pitch vel chan) (set! got (list pitch vel chan)))",
    );
    let input = eval(&mut editor, "(midi:virtual-input \"zonal-test-in\")");
    assert!(input.parse::<i64>().is_ok(), "{input}");
    let out = MidiOutput::new("zonal-test").unwrap();
    let port = out
        .ports()
        .into_iter()
        .find(|p| {
            out.port_name(p)
                .unwrap_or_default()
                .contains("zonal-test-in")
        })
        .expect("zonal's virtual input is listed");
    let mut sender = out.connect(&port, "to-zonal").unwrap();
    sender.send(&[0x91, 64, 90]).unwrap();
    assert_eq!(eval_until(&mut editor, "got", |r| r != "()"), "(64 90 1)");

    let device = eval(&mut editor, "(midi:virtual-output \"zonal-test-out\")");
    let mut midi_in = MidiInput::new("zonal-test").unwrap();
    midi_in.ignore(midir::Ignore::None);
    let port = midi_in
        .ports()
        .into_iter()
        .find(|p| {
            midi_in
                .port_name(p)
                .unwrap_or_default()
                .contains("zonal-test-out")
        })
        .expect("zonal's virtual output is listed");
    let (tx, rx) = std::sync::mpsc::channel();
    let _listening = midi_in
        .connect(
            &port,
            "from-zonal",
            move |_, bytes, _| {
                let _ = tx.send(bytes.to_vec());
            },
            (),
        )
        .unwrap();
    eval(
        &mut editor,
        &format!("(play-midi-note (io:clock) {device} 60 100 2400 0)"),
    );
    let on = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let off = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!((on, off), (vec![0x90, 60, 100], vec![0x80, 60, 0]));
}
