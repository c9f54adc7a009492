//! Symbols interned before anything else, so that the compiler can recognise core
//! syntax by number. The order of [`KEYWORDS`] fixes the numbers below.

pub(crate) const KEYWORDS: &[&str] = &[
    "quote",
    "quasiquote",
    "unquote",
    "unquote-splicing",
    "lambda",
    "define",
    "if",
    "set!",
    "begin",
    "let",
    "let*",
    "letrec",
    "letrec*",
    "cond",
    "case",
    "and",
    "or",
    "when",
    "unless",
    "do",
    "delay",
    "delay-force",
    "make-promise-lazy",
    "define-macro",
    "define-syntax",
    "let-syntax",
    "letrec-syntax",
    "syntax-rules",
    "guard",
    "define-record-type",
    "else",
    "=>",
    "...",
    "_",
    "cons-stream",
    "case-lambda",
    "let-values",
    "let*-values",
    "define-values",
    "receive",
    "parameterize",
    "assert",
];

pub(crate) const QUOTE: u32 = 0;
pub(crate) const QUASIQUOTE: u32 = 1;
pub(crate) const UNQUOTE: u32 = 2;
pub(crate) const UNQUOTE_SPLICING: u32 = 3;
pub(crate) const LAMBDA: u32 = 4;
pub(crate) const DEFINE: u32 = 5;
pub(crate) const IF: u32 = 6;
pub(crate) const SET: u32 = 7;
pub(crate) const BEGIN: u32 = 8;
pub(crate) const LET: u32 = 9;
pub(crate) const LET_STAR: u32 = 10;
pub(crate) const LETREC: u32 = 11;
pub(crate) const LETREC_STAR: u32 = 12;
pub(crate) const COND: u32 = 13;
pub(crate) const CASE: u32 = 14;
pub(crate) const AND: u32 = 15;
pub(crate) const OR: u32 = 16;
pub(crate) const WHEN: u32 = 17;
pub(crate) const UNLESS: u32 = 18;
pub(crate) const DO: u32 = 19;
pub(crate) const DELAY: u32 = 20;
pub(crate) const DELAY_FORCE: u32 = 21;
pub(crate) const MAKE_PROMISE_LAZY: u32 = 22;
pub(crate) const DEFINE_MACRO: u32 = 23;
pub(crate) const DEFINE_SYNTAX: u32 = 24;
pub(crate) const LET_SYNTAX: u32 = 25;
pub(crate) const LETREC_SYNTAX: u32 = 26;
pub(crate) const GUARD: u32 = 28;
pub(crate) const DEFINE_RECORD_TYPE: u32 = 29;
pub(crate) const CONS_STREAM: u32 = 34;
pub(crate) const CASE_LAMBDA: u32 = 35;
pub(crate) const LET_VALUES: u32 = 36;
pub(crate) const LET_STAR_VALUES: u32 = 37;
pub(crate) const DEFINE_VALUES: u32 = 38;
pub(crate) const RECEIVE: u32 = 39;
pub(crate) const PARAMETERIZE: u32 = 40;
pub(crate) const ASSERT: u32 = 41;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_keyword_list() {
        for (i, name) in [
            (QUOTE, "quote"),
            (DEFINE, "define"),
            (GUARD, "guard"),
            (CONS_STREAM, "cons-stream"),
            (CASE_LAMBDA, "case-lambda"),
            (ASSERT, "assert"),
        ] {
            assert_eq!(KEYWORDS[i as usize], name);
        }
        assert_eq!(KEYWORDS.len(), ASSERT as usize + 1);
    }
}
