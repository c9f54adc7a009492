//! The types of the DSP language and the text of type annotations.
//!
//! `i1 i8 i16 i32 i64 float double void`, pointers `T*` (nested), tuples `<T,..>`, arrays
//! `|N,T|`, SIMD vectors `/N,T/` (of numbers), closures `[R,A..]*` (a closure value is a
//! pointer, so the `*` is part of the closure type). Names from `bind-type` and `bind-alias` are expanded when an annotation
//! is read; `SAMPLE`, `DSP`, `DSPMC`, `DSPMT` and `mzone` (opaque) are predefined. [`Type::Var`] is an inference
//! variable, never seen outside [`crate::infer`].
//!
//! Generics: `!a` is a type variable ([`Type::Param`]); a `bind-type` whose definition has
//! type variables is generic, `Pair{i64,double}` gives its variables types in the order
//! they first appear in the definition, and a bare `Pair` keeps the definition's own
//! variables (`!a`, `!b`). `Name:<...>` (Extempore's spelling of a named tuple) reads as
//! the tuple. Only [`crate::generic`] and inference see types with variables: code is
//! compiled for concrete types.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// A DSP type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    I1,
    I8,
    I16,
    I32,
    I64,
    Float,
    Double,
    Void,
    Ptr(Box<Type>),
    Tuple(Vec<Type>),
    Array(u64, Box<Type>),
    /// `/N,T/`: a SIMD vector of `N` numbers.
    Vector(u64, Box<Type>),
    /// `[ret, params..]*`.
    Closure(Box<Type>, Vec<Type>),
    /// An inference variable.
    Var(u32),
    /// A type variable of an annotation, `!a` (see [`crate::generic`]).
    Param(String),
    /// A `bind-type` named inside its own definition, behind a pointer
    /// (`(bind-type Node <i64,Node*>)`), with the types of its variables if it is generic
    /// (`(bind-type List <!a,List*>)`): taking a field of a tuple unfolds it into the named
    /// tuple again (see [`Type::unfold`]).
    Rec(String, Vec<Type>),
}

impl Type {
    pub fn ptr(t: Type) -> Type {
        Type::Ptr(Box::new(t))
    }

    pub fn is_int(&self) -> bool {
        matches!(
            self,
            Type::I1 | Type::I8 | Type::I16 | Type::I32 | Type::I64
        )
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Type::Float | Type::Double)
    }

    pub fn is_numeric(&self) -> bool {
        self.is_int() || self.is_real()
    }

    /// Tuples, arrays and vectors: held by value in their own memory.
    pub fn is_aggregate(&self) -> bool {
        matches!(self, Type::Tuple(_) | Type::Array(..) | Type::Vector(..))
    }

    /// The lanes and lane type of a vector, or of the vector a pointer points to.
    pub fn vector_lanes(&self) -> Option<(u64, &Type)> {
        match self {
            Type::Vector(n, e) => Some((*n, e)),
            Type::Ptr(v) => match &**v {
                Type::Vector(n, e) => Some((*n, e)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Pointers and closures: values that are addresses.
    pub fn is_pointer(&self) -> bool {
        matches!(self, Type::Ptr(_) | Type::Closure(..))
    }

    /// Bytes a value of this type takes in memory.
    pub fn size(&self) -> u64 {
        match self {
            Type::I1 | Type::I8 => 1,
            Type::I16 => 2,
            Type::I32 | Type::Float => 4,
            Type::I64 | Type::Double | Type::Ptr(_) | Type::Closure(..) => 8,
            Type::Void | Type::Var(_) | Type::Param(_) | Type::Rec(..) => 0,
            Type::Array(n, t) | Type::Vector(n, t) => n.saturating_mul(t.size()),
            Type::Tuple(fields) => {
                let mut off = 0u64;
                for f in fields {
                    off = off.next_multiple_of(f.align()) + f.size();
                }
                off.next_multiple_of(self.align())
            }
        }
    }

    /// Alignment of a value of this type in memory.
    pub fn align(&self) -> u64 {
        match self {
            Type::Array(_, t) => t.align(),
            Type::Vector(..) => self.size().next_power_of_two().clamp(1, 16),
            Type::Tuple(fields) => fields.iter().map(Type::align).max().unwrap_or(1),
            t => t.size().max(1),
        }
    }

    /// Byte offset of field `i` of a tuple.
    pub fn field_offset(fields: &[Type], i: usize) -> u64 {
        let mut off = 0u64;
        for (k, f) in fields.iter().enumerate() {
            off = off.next_multiple_of(f.align());
            if k == i {
                return off;
            }
            off += f.size();
        }
        off
    }

    /// Replaces each recursive name reached through pointers or arrays with its
    /// definition (`lookup`), one level: `Node*` inside `<i64,Node*>` becomes
    /// `<i64,Node*>*`. Tuples are left as they are.
    pub fn unfold(&self, lookup: &dyn Fn(&str, &[Type]) -> Option<Type>) -> Type {
        match self {
            Type::Rec(name, args) => lookup(name, args).unwrap_or_else(|| self.clone()),
            Type::Ptr(t) => Type::ptr(t.unfold(lookup)),
            Type::Array(n, t) => Type::Array(*n, Box::new(t.unfold(lookup))),
            Type::Vector(n, t) => Type::Vector(*n, Box::new(t.unfold(lookup))),
            t => t.clone(),
        }
    }

    /// True when no inference variable or type variable is left inside.
    pub fn is_concrete(&self) -> bool {
        match self {
            Type::Var(_) | Type::Param(_) => false,
            Type::Ptr(t) | Type::Array(_, t) | Type::Vector(_, t) => t.is_concrete(),
            Type::Tuple(f) | Type::Rec(_, f) => f.iter().all(Type::is_concrete),
            Type::Closure(r, a) => r.is_concrete() && a.iter().all(Type::is_concrete),
            _ => true,
        }
    }

    /// True when a type variable (`!a`) is inside.
    pub fn has_params(&self) -> bool {
        let mut found = false;
        self.each_param(&mut |_| found = true);
        found
    }

    /// Calls `f` with the name of each type variable inside, in order, repeats included.
    pub fn each_param(&self, f: &mut dyn FnMut(&str)) {
        match self {
            Type::Param(n) => f(n),
            Type::Ptr(t) | Type::Array(_, t) | Type::Vector(_, t) => t.each_param(f),
            Type::Tuple(items) | Type::Rec(_, items) => items.iter().for_each(|t| t.each_param(f)),
            Type::Closure(r, a) => {
                r.each_param(f);
                a.iter().for_each(|t| t.each_param(f));
            }
            _ => {}
        }
    }

    /// The type with each type variable named in `map` replaced by its type.
    pub fn subst(&self, map: &HashMap<String, Type>) -> Type {
        let each = |items: &[Type]| items.iter().map(|t| t.subst(map)).collect::<Vec<_>>();
        match self {
            Type::Param(n) => map.get(n).cloned().unwrap_or_else(|| self.clone()),
            Type::Ptr(t) => Type::ptr(t.subst(map)),
            Type::Array(n, t) => Type::Array(*n, Box::new(t.subst(map))),
            Type::Vector(n, t) => Type::Vector(*n, Box::new(t.subst(map))),
            Type::Tuple(items) => Type::Tuple(each(items)),
            Type::Rec(name, items) => Type::Rec(name.clone(), each(items)),
            Type::Closure(r, a) => Type::Closure(Box::new(r.subst(map)), each(a)),
            t => t.clone(),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, items: &[Type]| -> fmt::Result {
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{t}")?;
            }
            Ok(())
        };
        match self {
            Type::I1 => f.write_str("i1"),
            Type::I8 => f.write_str("i8"),
            Type::I16 => f.write_str("i16"),
            Type::I32 => f.write_str("i32"),
            Type::I64 => f.write_str("i64"),
            Type::Float => f.write_str("float"),
            Type::Double => f.write_str("double"),
            Type::Void => f.write_str("void"),
            Type::Ptr(t) => write!(f, "{t}*"),
            Type::Tuple(items) => {
                f.write_str("<")?;
                list(f, items)?;
                f.write_str(">")
            }
            Type::Array(n, t) => write!(f, "|{n},{t}|"),
            Type::Vector(n, t) => write!(f, "/{n},{t}/"),
            Type::Closure(r, args) => {
                write!(f, "[{r}")?;
                for a in args {
                    write!(f, ",{a}")?;
                }
                f.write_str("]*")
            }
            Type::Var(_) => f.write_str("?"),
            Type::Param(n) => write!(f, "!{n}"),
            Type::Rec(name, args) if args.is_empty() => f.write_str(name),
            Type::Rec(name, args) => {
                write!(f, "{name}{{")?;
                list(f, args)?;
                f.write_str("}")
            }
        }
    }
}

/// A function's signature as callers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct FnSig {
    pub params: Vec<Type>,
    pub ret: Type,
}

impl fmt::Display for FnSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            Type::Closure(Box::new(self.ret.clone()), self.params.clone())
        )
    }
}

/// Names of types: `bind-type` names and `bind-alias` aliases, expanded when read.
#[derive(Clone, Debug)]
pub struct TypeNames {
    names: HashMap<String, Type>,
    /// The type variables of each generic name, in the order they first appear.
    params: HashMap<String, Vec<String>>,
    /// Tuple names handled by reference (`bind-type`'s option `(by-reference . #t)`):
    /// the bare name reads as a pointer to the tuple, so Extempore's by-value
    /// annotations (`beat:Rational`) mean what zonal passes (`Rational*`).
    by_reference: HashSet<String>,
}

impl Default for TypeNames {
    fn default() -> Self {
        let mut names = HashMap::new();
        let sample = Type::Float;
        names.insert("SAMPLE".to_string(), sample.clone());
        // Extempore's zone type: opaque here (DSP code reaches zones only through zonal's
        // forms), so an `mzone*` field or variable is a pointer to bytes
        names.insert("mzone".to_string(), Type::I8);
        names.insert(
            "DSP".to_string(),
            Type::Closure(
                Box::new(sample.clone()),
                vec![
                    sample.clone(),
                    Type::I64,
                    Type::I64,
                    Type::ptr(sample.clone()),
                ],
            ),
        );
        names.insert(
            "DSPMT".to_string(),
            Type::Closure(
                Box::new(sample.clone()),
                vec![
                    Type::ptr(sample.clone()),
                    Type::I64,
                    Type::I64,
                    Type::ptr(sample.clone()),
                ],
            ),
        );
        names.insert(
            "DSPMC".to_string(),
            Type::Closure(
                Box::new(Type::Void),
                vec![
                    Type::ptr(sample.clone()),
                    Type::ptr(sample),
                    Type::I64,
                    Type::ptr(Type::I8),
                ],
            ),
        );
        TypeNames {
            names,
            params: HashMap::new(),
            by_reference: HashSet::new(),
        }
    }
}

/// Gives a recursive reference to `name` without type arguments (`List*` inside the
/// definition of `List`) the definition's own variables.
fn own_params(t: &Type, name: &str, params: &[Type]) -> Type {
    let each = |items: &[Type]| {
        items
            .iter()
            .map(|x| own_params(x, name, params))
            .collect::<Vec<_>>()
    };
    match t {
        Type::Rec(n, args) if n == name && args.is_empty() => Type::Rec(n.clone(), params.to_vec()),
        Type::Ptr(x) => Type::ptr(own_params(x, name, params)),
        Type::Array(n, x) => Type::Array(*n, Box::new(own_params(x, name, params))),
        Type::Vector(n, x) => Type::Vector(*n, Box::new(own_params(x, name, params))),
        Type::Tuple(items) => Type::Tuple(each(items)),
        Type::Closure(r, a) => Type::Closure(Box::new(own_params(r, name, params)), each(a)),
        t => t.clone(),
    }
}

impl TypeNames {
    /// Names `t`; its type variables, if any, make the name generic. Returns the type as
    /// stored (a recursive reference without arguments given the definition's variables).
    pub fn define(&mut self, name: &str, t: Type) -> Type {
        let mut params: Vec<String> = Vec::new();
        t.each_param(&mut |p| {
            if !params.iter().any(|q| q == p) {
                params.push(p.to_string());
            }
        });
        let own: Vec<Type> = params.iter().map(|p| Type::Param(p.clone())).collect();
        let t = own_params(&t, name, &own);
        self.names.insert(name.to_string(), t.clone());
        if params.is_empty() {
            self.params.remove(name);
        } else {
            self.params.insert(name.to_string(), params);
        }
        t
    }

    /// Makes the bare `name` read as a pointer to its type (or, `false`, as the type).
    pub fn set_by_reference(&mut self, name: &str, by_reference: bool) {
        if by_reference {
            self.by_reference.insert(name.to_string());
        } else {
            self.by_reference.remove(name);
        }
    }

    pub fn get(&self, name: &str) -> Option<&Type> {
        self.names.get(name)
    }

    /// The type variables of a generic name, in order (empty for other names).
    pub fn params(&self, name: &str) -> &[String] {
        self.params.get(name).map_or(&[], Vec::as_slice)
    }

    /// The definition of `name` with its type variables given `args` (in order); the
    /// definition as it is when `args` is empty.
    pub fn instance(&self, name: &str, args: &[Type]) -> Option<Type> {
        let def = self.names.get(name)?;
        if args.is_empty() {
            return Some(def.clone());
        }
        let map: HashMap<String, Type> = self
            .params(name)
            .iter()
            .cloned()
            .zip(args.iter().cloned())
            .collect();
        Some(def.subst(&map))
    }

    /// Reads an annotation such as `<i64,double>*` or `[float,float,i64]*`.
    pub fn parse(&self, text: &str) -> Result<Type, String> {
        self.parse_in(text, None)
    }

    /// Reads the definition of `bind-type NAME`, in which `NAME*` may appear (a recursive
    /// type such as `<i64,Node*>`).
    pub fn parse_definition(&self, name: &str, text: &str) -> Result<Type, String> {
        self.parse_in(text, Some(name))
    }

    fn parse_in(&self, text: &str, this: Option<&str>) -> Result<Type, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut p = TypeParser {
            chars: &chars,
            pos: 0,
            names: self,
            this,
        };
        let t = p.ty(0)?;
        if p.pos != chars.len() {
            return Err(format!("`{text}` is not a type"));
        }
        Ok(t)
    }
}

struct TypeParser<'a> {
    chars: &'a [char],
    pos: usize,
    names: &'a TypeNames,
    /// The `bind-type` being defined, which may name itself behind a pointer.
    this: Option<&'a str>,
}

impl TypeParser<'_> {
    fn eat(&mut self, c: char) -> bool {
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn text(&self) -> String {
        self.chars.iter().collect()
    }

    fn list(&mut self, close: char, depth: usize) -> Result<Vec<Type>, String> {
        let mut items = vec![self.ty(depth + 1)?];
        while self.eat(',') {
            items.push(self.ty(depth + 1)?);
        }
        if !self.eat(close) {
            return Err(format!(
                "`{}` is not a type: expected `{close}`",
                self.text()
            ));
        }
        Ok(items)
    }

    fn ty(&mut self, depth: usize) -> Result<Type, String> {
        if depth > 64 {
            return Err("this type is nested too deeply".into());
        }
        let t = if self.eat('<') {
            Type::Tuple(self.list('>', depth)?)
        } else if self.eat('[') {
            let mut items = self.list(']', depth)?;
            if !self.eat('*') {
                return Err(format!(
                    "`{}` is not a type: a closure type ends in `]*`",
                    self.text()
                ));
            }
            let ret = items.remove(0);
            Type::Closure(Box::new(ret), items)
        } else if self.eat('/') {
            let (n, elem) = self.sized('/', "a vector", depth)?;
            if n == 0 || !elem.is_numeric() {
                return Err(format!(
                    "`{}` is not a type: a vector holds one or more numbers, as in /4,float/",
                    self.text()
                ));
            }
            Type::Vector(n, Box::new(elem))
        } else if self.eat('|') {
            let start = self.pos;
            while self.chars.get(self.pos).is_some_and(char::is_ascii_digit) {
                self.pos += 1;
            }
            let n: u64 = self.chars[start..self.pos]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| format!("`{}` is not a type: an array starts |N,", self.text()))?;
            if !self.eat(',') {
                return Err(format!(
                    "`{}` is not a type: an array is |N,T|",
                    self.text()
                ));
            }
            let elem = self.ty(depth + 1)?;
            if !self.eat('|') {
                return Err(format!("`{}` is not a type: expected `|`", self.text()));
            }
            Type::Array(n, Box::new(elem))
        } else if self.eat('!') {
            let name = self.name();
            if name.is_empty() {
                return Err(format!(
                    "`{}` is not a type: a type variable is !name",
                    self.text()
                ));
            }
            Type::Param(name)
        } else {
            let name = self.name();
            // `Name:<...>`: Extempore's spelling of a named type with its structure; a
            // name already defined stands for itself (so a recursive type keeps its one
            // shape), the structure is read either way
            if self.chars.get(self.pos) == Some(&':')
                && matches!(self.chars.get(self.pos + 1), Some('<' | '['))
            {
                self.pos += 1;
                let spelled = self.ty(depth + 1)?;
                let Some(own) = self
                    .names
                    .get(&name)
                    .filter(|_| Some(name.as_str()) != self.this)
                else {
                    return Ok(spelled);
                };
                // the pointers after the structure were read with it
                let mut k = self.pos;
                while k > 0 && self.chars[k - 1] == '*' {
                    k -= 1;
                }
                let closure_star = usize::from(k > 0 && self.chars[k - 1] == ']');
                let mut t = own.clone();
                for _ in 0..(self.pos - k).saturating_sub(closure_star) {
                    t = Type::ptr(t);
                }
                return Ok(t);
            }
            let args = if self.eat('{') {
                self.list('}', depth)?
            } else {
                Vec::new()
            };
            match name.as_str() {
                "i1" | "bool" => Type::I1,
                "i8" | "char" => Type::I8,
                "i16" => Type::I16,
                "i32" => Type::I32,
                "i64" => Type::I64,
                "float" => Type::Float,
                "double" => Type::Double,
                "void" => Type::Void,
                "size_t" => Type::I64,
                "" => return Err(format!("`{}` is not a type", self.text())),
                other if Some(other) == self.this => {
                    if self.chars.get(self.pos) != Some(&'*') {
                        return Err(format!(
                            "{other} cannot hold itself, only a pointer to itself: {other}*"
                        ));
                    }
                    Type::Rec(other.to_string(), args)
                }
                other => {
                    let wanted = self.names.params(other).len();
                    if !args.is_empty() && args.len() != wanted {
                        return Err(format!(
                            "{other} has {wanted} type variable(s), given {} in `{}`",
                            args.len(),
                            self.text()
                        ));
                    }
                    // inside another type's definition, a bare generic name has type
                    // variables of its own (`<TypeA*,!a>` has two), as in Extempore
                    let args = if args.is_empty() && self.this.is_some() {
                        self.names
                            .params(other)
                            .iter()
                            .map(|p| Type::Param(format!("{other}_{p}")))
                            .collect()
                    } else {
                        args
                    };
                    match self.names.instance(other, &args) {
                        // a name handled by reference is its pointer, with or without
                        // the `*` written after it
                        Some(t) if self.names.by_reference.contains(other) => {
                            self.eat('*');
                            Type::ptr(t)
                        }
                        Some(t) => t,
                        None => return Err(format!("unknown type `{other}`")),
                    }
                }
            }
        };
        self.stars(t)
    }

    /// The `N,T` and closing `close` of an array or vector type.
    fn sized(&mut self, close: char, what: &str, depth: usize) -> Result<(u64, Type), String> {
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(char::is_ascii_digit) {
            self.pos += 1;
        }
        let n: u64 = self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| format!("`{}` is not a type: {what} starts {close}N,", self.text()))?;
        if !self.eat(',') {
            return Err(format!(
                "`{}` is not a type: {what} is {close}N,T{close}",
                self.text()
            ));
        }
        let elem = self.ty(depth + 1)?;
        if !self.eat(close) {
            return Err(format!(
                "`{}` is not a type: expected `{close}`",
                self.text()
            ));
        }
        Ok((n, elem))
    }

    fn stars(&mut self, mut t: Type) -> Result<Type, String> {
        while self.eat('*') {
            t = Type::ptr(t);
        }
        Ok(t)
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_read_and_print_back() {
        let n = TypeNames::default();
        for text in [
            "i64",
            "<i64,i64>*",
            "|4,double|*",
            "[double,double]*",
            "[void,<i8*,i32>**]*",
            "i8**",
        ] {
            assert_eq!(n.parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            n.parse("DSP").unwrap().to_string(),
            "[float,float,i64,i64,float*]*"
        );
        assert_eq!(n.parse("SAMPLE*").unwrap(), Type::ptr(Type::Float));
        assert_eq!(
            n.parse("<i64,mzone*>").unwrap(),
            n.parse("<i64,i8*>").unwrap()
        );
    }

    #[test]
    fn bad_annotations_say_why() {
        let n = TypeNames::default();
        assert_eq!(n.parse("Foo").unwrap_err(), "unknown type `Foo`");
        assert_eq!(
            n.parse("<i64").unwrap_err(),
            "`<i64` is not a type: expected `>`"
        );
        assert!(n.parse("[i64,i64]").unwrap_err().contains("ends in `]*`"));
    }

    #[test]
    fn generic_names_take_their_variables_in_order() {
        let mut n = TypeNames::default();
        let pair = n.parse("<!a,!b>").unwrap();
        n.define("Pair", pair);
        assert_eq!(n.params("Pair"), ["a", "b"]);
        assert_eq!(
            n.parse("Pair{i64,double}*").unwrap().to_string(),
            "<i64,double>*"
        );
        assert_eq!(
            n.parse("[!b,Pair*]*").unwrap().to_string(),
            "[!b,<!a,!b>*]*"
        );
        assert!(
            n.parse("Pair{i64}")
                .unwrap_err()
                .contains("has 2 type variable(s), given 1")
        );
        let list = n.parse_definition("List", "<!a,List*>").unwrap();
        n.define("List", list);
        assert_eq!(
            n.parse("List{float}*").unwrap().to_string(),
            "<float,List{float}*>*"
        );
        // a bare generic inside another type's definition has variables of its own
        let c = n.parse_definition("C", "<Pair*,!a>").unwrap();
        n.define("C", c);
        assert_eq!(n.params("C"), ["Pair_a", "Pair_b", "a"]);
        assert_eq!(
            n.parse("C{i64,i32,float}").unwrap().to_string(),
            "<<i64,i32>*,float>"
        );
        // a defined name spelled with its structure is the name, one shape whatever the
        // spelling
        assert_eq!(
            n.parse("List:<!a,List*>*").unwrap(),
            n.parse("List*").unwrap()
        );
    }

    #[test]
    fn tuples_are_laid_out_as_in_c() {
        let t = Type::Tuple(vec![Type::I8, Type::Double, Type::I32]);
        assert_eq!(t.size(), 24);
        assert_eq!(t.align(), 8);
        let Type::Tuple(f) = &t else { unreachable!() };
        assert_eq!(Type::field_offset(f, 1), 8);
        assert_eq!(Type::field_offset(f, 2), 16);
    }
}
