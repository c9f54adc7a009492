//! What `zonal test` prints and writes: a line per assertion, a summary, JUnit XML.

use std::fmt::Write as _;

use super::FileReport;

/// The lines for one file: every failure, and every pass too when `verbose`; the
/// file's printed output follows a failure, indented, so it can be read in context.
pub fn file_lines(r: &FileReport, verbose: bool) -> String {
    let mut out = String::new();
    for a in &r.assertions {
        if verbose || !a.outcome.passed() {
            out.push_str(&a.line());
            out.push('\n');
        }
    }
    let failed = r.failed();
    let _ = writeln!(
        out,
        "{}: {} passed, {failed} failed{}",
        r.file.display(),
        r.assertions.len() - failed,
        if r.skipped > 0 {
            format!(", {} skipped", r.skipped)
        } else {
            String::new()
        }
    );
    if (failed > 0 || verbose) && !r.output.trim().is_empty() {
        let _ = writeln!(out, "  output of {}:", r.file.display());
        for line in r.output.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

/// `N passed, N failed` over all files.
pub fn summary(reports: &[FileReport]) -> String {
    let total: usize = reports.iter().map(|r| r.assertions.len()).sum();
    let failed: usize = reports.iter().map(FileReport::failed).sum();
    let skipped: usize = reports.iter().map(|r| r.skipped).sum();
    let mut s = format!(
        "{} passed, {failed} failed in {} file{}",
        total - failed,
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    if skipped > 0 {
        let _ = write!(s, " ({skipped} skipped by the filter)");
    }
    s
}

/// JUnit XML: a test suite per file, a test case per assertion.
pub fn junit(reports: &[FileReport]) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total: usize = reports.iter().map(|r| r.assertions.len()).sum();
    let failed: usize = reports.iter().map(FileReport::failed).sum();
    let _ = writeln!(
        x,
        "<testsuites name=\"zonal test\" tests=\"{total}\" failures=\"{failed}\">"
    );
    for r in reports {
        let file = escape(&r.file.display().to_string());
        let _ = writeln!(
            x,
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            r.assertions.len(),
            r.failed(),
            r.skipped
        );
        for a in &r.assertions {
            let name = escape(&a.name);
            let place = escape(&a.place);
            if a.outcome.passed() {
                let _ = writeln!(
                    x,
                    "    <testcase name=\"{name}\" classname=\"{file}\" file=\"{place}\"/>"
                );
            } else {
                let _ = writeln!(
                    x,
                    "    <testcase name=\"{name}\" classname=\"{file}\" file=\"{place}\">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    a.outcome,
                    escape(&format!("expected {}, got {}", a.expected, a.got)),
                    escape(&a.line())
                );
            }
        }
        if !r.output.is_empty() {
            let _ = writeln!(x, "    <system-out>{}</system-out>", escape(&r.output));
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 cannot carry other control characters at all
            c if c.is_control() && c != '\n' && c != '\t' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}
