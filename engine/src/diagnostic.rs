//! Error reports for the musician: the error as the interpreter words it, with the
//! offending source line and a caret under the column where it went wrong.

use zonal_scheme::Error;

/// The report of `e`. The source line comes from the library the error's position
/// names when it is one of zonal's, else from `source` when given (text sent by an
/// editor or typed in the REPL), otherwise from the file the position names.
pub fn report(e: &Error, source: Option<&str>) -> String {
    let text = e.to_string();
    let Some(pos) = &e.pos else {
        return text;
    };
    let from_file;
    let source = match crate::libs::embedded(&pos.file).or(source) {
        Some(s) => s,
        None => match std::fs::read_to_string(&*pos.file) {
            Ok(s) => {
                from_file = s;
                &from_file
            }
            Err(_) => return text,
        },
    };
    let Some(line) = source.lines().nth((pos.line as usize).saturating_sub(1)) else {
        return text;
    };
    let number = pos.line.to_string();
    let pad = " ".repeat(number.len());
    let indent: String = line
        .chars()
        .take((pos.col as usize).saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let snippet = format!("{pad} |\n{number} | {line}\n{pad} | {indent}^");
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("  at "))
        .map_or(lines.len(), |i| i + 1);
    lines.insert(at, &snippet);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use zonal_scheme::{ErrorKind, Pos};

    fn at(line: u32, col: u32) -> Error {
        Error::new(ErrorKind::Type, "type clash in (+ ...): i64 and a real").at(Pos {
            file: "clash.xtm".into(),
            line,
            col,
        })
    }

    #[test]
    fn a_caret_points_at_the_column() {
        let src = "(define y 2)\n(bind-func bad (lambda (x:i64) (+ x 1.5)))\n";
        assert_eq!(
            report(&at(2, 32), Some(src)),
            "type error: type clash in (+ ...): i64 and a real\n  at clash.xtm:2:32\n  |\n2 | (bind-func bad (lambda (x:i64) (+ x 1.5)))\n  |                                ^"
        );
    }

    #[test]
    fn without_the_source_the_error_stands_alone() {
        let e = at(9, 1);
        assert_eq!(report(&e, Some("(one line)")), e.to_string());
        assert_eq!(report(&e, None), e.to_string());
    }
}
