//! Pictures of the sound: `zonal render --plot` and `zonal plot` write a PNG of the
//! expected size whose spectrogram shows a sine's peak on the row of its frequency.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonal-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The PNG's size and its pixels as RGB.
fn read_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    assert!(step >= 3, "{:?}", info.color_type);
    let pixels = bytes
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

#[test]
fn a_sine_render_plots_its_spectrogram_peak_on_the_row_of_440_hz() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (wav, png) = (scratch("sine.wav"), scratch("sine.png"));
    let done = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .current_dir(&root)
        .args(["render", "examples/sine.xtm", "--seconds", "2", "-o"])
        .arg(&wav)
        .arg("--plot")
        .arg(&png)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(
        stderr.contains("1200x800 pixels, 2.00 s, 0 to 24000 Hz"),
        "{stderr}"
    );

    let (width, height, pixels) = read_png(&png);
    assert_eq!((width, height), (1200, 800));
    // the layout is the library's: ask it where the spectrogram went
    let again = scratch("again.png");
    let layout = zonal_engine::plot::plot_wav(&wav, &again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&png).unwrap());
    let (x0, x1) = layout.spectrogram_x;
    let (y0, y1) = layout.spectrogram_y;
    let brightness = |x: i32, y: i32| -> u32 {
        let p = pixels[(y as u32 * width + x as u32) as usize];
        p.iter().map(|&c| u32::from(c)).sum()
    };
    let rows = y1 - y0;
    let hz_of_row = |y: i32| (f64::from(y1 - y) - 0.5) / f64::from(rows) * layout.nyquist;
    for x in [x0 + (x1 - x0) / 4, (x0 + x1) / 2, x1 - (x1 - x0) / 4] {
        let brightest = (y0..y1).max_by_key(|&y| brightness(x, y)).unwrap();
        let hz = hz_of_row(brightest);
        let row_hz = layout.nyquist / f64::from(rows);
        assert!(
            (hz - 440.0).abs() <= row_hz,
            "column {x}: the peak is on row {brightest}, {hz:.0} Hz"
        );
        // a 0.3 sine is about -10 dB: bright; 5 kHz is silence: black
        assert!(
            brightness(x, brightest) > 500,
            "{}",
            brightness(x, brightest)
        );
        let quiet = (f64::from(y1) - 5000.0 / row_hz) as i32;
        assert_eq!(brightness(x, quiet), 0, "5 kHz at column {x}");
    }
}

#[test]
fn plot_refuses_a_file_that_is_not_a_wav() {
    let text = scratch("notes.txt");
    std::fs::write(&text, "la la la").unwrap();
    let done = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .arg("plot")
        .arg(&text)
        .arg("-o")
        .arg(scratch("never.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(1));
    assert!(stderr.contains("notes.txt as a WAV file"), "{stderr}");
}
