//! Inference of a self-contained definition, for the unit tests of the analyses that
//! read its result (owned variables, the fast-loop scan).

use super::{Candidate, Globals, SelfDef, Typed, infer};
use crate::error::{DspError, DspErrorKind, Result};
use crate::sexp;
use crate::syntax::{Lambda, Parser};
use crate::types::{Type, TypeNames};

/// No bind-funcs, globals, generics or named types besides the predefined ones.
struct Nothing(TypeNames);

impl Globals for Nothing {
    fn func(&self, _: &str) -> Option<Type> {
        None
    }
    fn val(&self, _: &str) -> Option<Type> {
        None
    }
    fn closure_vars(&self, _: &str) -> Option<Vec<(String, Type)>> {
        None
    }
    fn named(&self, _: &str, _: &[Type]) -> Option<Type> {
        None
    }
    fn candidates(&self, _: &str) -> Vec<Candidate> {
        Vec::new()
    }
    fn template_ret(&self, name: &str, _: usize, _: &Type) -> Result<Type> {
        Err(DspError::new(
            DspErrorKind::Internal,
            format!("no generic {name} here"),
            None,
        ))
    }
    fn parse_type(&self, text: &str) -> Option<Type> {
        self.0.parse(text).ok()
    }
}

/// The first form of `src`, parsed as the body of a definition `f` and typed: its
/// typing and the definition (whose body is that one form).
pub fn typed_source(src: &str) -> (Typed, Lambda) {
    let g = Nothing(TypeNames::default());
    let forms = sexp::parse(src, "test.xtm").expect("reads");
    let mut parser = Parser::new(&g.0);
    let body = parser.expr(&forms[0]).expect("parses");
    let init = Lambda {
        index: 0,
        params: Vec::new(),
        body: vec![body],
    };
    let me = SelfDef {
        name: "f",
        key: "f".to_string(),
        ty: None,
        concrete: None,
    };
    let (typed, _) = infer(&init, parser.next_id, &g, &me).expect("types");
    (typed, init)
}
