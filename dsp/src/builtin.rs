//! The builtins of the language, resolved once from their names: inference records the
//! [`Builtin`] of every call node that names one (a local variable of the same name
//! shadows it), and type checking, lowering and the loop analyses match on the enum.

use crate::types::Type;

/// A builtin operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `+ - * / %` (and `modulo`), over any number of arguments (`-` of one negates).
    Arith(Arith),
    /// `= <> != < > <= >=`, of two arguments.
    Compare(Compare),
    Not,
    /// `bitwise-and/or/xor/shift-left/shift-right`, folded over their arguments.
    Bitwise(Bitwise),
    BitNot,
    /// `pref`: the element at an index of a pointer.
    Pref,
    PrefPtr,
    /// `aref`: the element at an index of an array, through a pointer to it.
    Aref,
    ArefPtr,
    Pset,
    Aset,
    Afill,
    /// `tref`: a tuple's field, through a pointer to the tuple.
    Tref,
    TrefPtr,
    Tset,
    Tfill,
    Printf,
    /// `(println)`: a newline. `(println a b ..)` is a `print` of each value (a `print`
    /// overload where one fits), with a space between them, then `(println)`.
    Println,
    /// `(print x)`: one value, without a space or newline; a `print` overload of the
    /// value's type, where one fits, prints it instead (`printout` is a `print` of each).
    Print,
    Free,
    /// `(vector a b ..)`: a vector value; `vector_ref` makes one in the zone, by pointer.
    Vector,
    VectorRef,
    /// `(vref v i)`: lane `i` of a vector or of the vector a pointer points to.
    Vref,
    /// `(vset! v i x)`: sets lane `i` of the vector a pointer points to (or of a vector
    /// variable).
    Vset,
    /// `(vfill! p a b ..)`: sets every lane of the vector `p` points to.
    Vfill,
    /// `(array a b ..)` / `(tuple a b ..)`: an array or tuple value; the `_ref` forms make
    /// one in the zone, by pointer.
    Array,
    ArrayRef,
    Tuple,
    TupleRef,
    /// `(callback time f args...)`: `f` (a closure or a bind-func) with `args`, at sample
    /// `time`, on the audio thread.
    Callback,
    /// `(zone_cleanup body...)`, made by the parser into a call with one closure of no
    /// arguments: run when the current memzone ends.
    ZoneCleanup,
    /// `(convert x)`: `x` as the number or pointer type its use wants.
    Cast,
    /// `(now)`: the sample time the engine is running DSP code for (an `i64`).
    Now,
    /// `(next_event_time)`: the first sample time, after `(now)`, at which an event may
    /// run (the end of the stretch of the buffer the engine is rendering without one);
    /// `(now)` itself where no such stretch is known (in an event, on the control thread).
    NextEventTime,
    Math(Math),
    /// `i64tod`-style conversion: from, to.
    Convert(Scalar, Scalar),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bitwise {
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

/// The scalar types a conversion names (`i1 i8 i16 i32 i64 f d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    I1,
    I8,
    I16,
    I32,
    I64,
    F,
    D,
}

impl Scalar {
    fn from_name(s: &str) -> Option<Scalar> {
        Some(match s {
            "i1" => Scalar::I1,
            "i8" => Scalar::I8,
            "i16" => Scalar::I16,
            "i32" => Scalar::I32,
            "i64" => Scalar::I64,
            "f" => Scalar::F,
            "d" => Scalar::D,
            _ => return None,
        })
    }

    pub fn ty(self) -> Type {
        match self {
            Scalar::I1 => Type::I1,
            Scalar::I8 => Type::I8,
            Scalar::I16 => Type::I16,
            Scalar::I32 => Type::I32,
            Scalar::I64 => Type::I64,
            Scalar::F => Type::Float,
            Scalar::D => Type::Double,
        }
    }
}

/// The math builtins: argument(s) and result of the same real type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Math {
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Exp,
    Exp2,
    Log,
    Log2,
    Log10,
    Cbrt,
    Round,
    Sqrt,
    Fabs,
    Floor,
    Ceil,
    Trunc,
    SinFast,
    CosFast,
    Pow,
    Atan2,
    Fmod,
    Hypot,
    Fmin,
    Fmax,
}

impl Math {
    /// Every math builtin.
    pub const ALL: [Math; 32] = [
        Math::Sin,
        Math::Cos,
        Math::Tan,
        Math::Asin,
        Math::Acos,
        Math::Atan,
        Math::Sinh,
        Math::Cosh,
        Math::Tanh,
        Math::Asinh,
        Math::Acosh,
        Math::Atanh,
        Math::Exp,
        Math::Exp2,
        Math::Log,
        Math::Log2,
        Math::Log10,
        Math::Cbrt,
        Math::Round,
        Math::Sqrt,
        Math::Fabs,
        Math::Floor,
        Math::Ceil,
        Math::Trunc,
        Math::SinFast,
        Math::CosFast,
        Math::Pow,
        Math::Atan2,
        Math::Fmod,
        Math::Hypot,
        Math::Fmin,
        Math::Fmax,
    ];

    /// Its name in the language (and, prefixed with `zonal_`, in the runtime).
    pub fn name(self) -> &'static str {
        match self {
            Math::Sin => "sin",
            Math::Cos => "cos",
            Math::Tan => "tan",
            Math::Asin => "asin",
            Math::Acos => "acos",
            Math::Atan => "atan",
            Math::Sinh => "sinh",
            Math::Cosh => "cosh",
            Math::Tanh => "tanh",
            Math::Asinh => "asinh",
            Math::Acosh => "acosh",
            Math::Atanh => "atanh",
            Math::Exp => "exp",
            Math::Exp2 => "exp2",
            Math::Log => "log",
            Math::Log2 => "log2",
            Math::Log10 => "log10",
            Math::Cbrt => "cbrt",
            Math::Round => "round",
            Math::Sqrt => "sqrt",
            Math::Fabs => "fabs",
            Math::Floor => "floor",
            Math::Ceil => "ceil",
            Math::Trunc => "trunc",
            Math::SinFast => "sin_fast",
            Math::CosFast => "cos_fast",
            Math::Pow => "pow",
            Math::Atan2 => "atan2",
            Math::Fmod => "fmod",
            Math::Hypot => "hypot",
            Math::Fmin => "fmin",
            Math::Fmax => "fmax",
        }
    }

    pub fn from_name(name: &str) -> Option<Math> {
        Math::ALL.into_iter().find(|m| m.name() == name)
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            Math::Pow | Math::Atan2 | Math::Fmod | Math::Hypot | Math::Fmin | Math::Fmax => 2,
            _ => 1,
        }
    }
}

impl Builtin {
    /// True when a call of this builtin, whose result is a `t`, only computes its result
    /// from its arguments: it touches no memory, calls nothing and cannot fault (no
    /// integer division, which faults on a zero divisor).
    pub fn only_computes(self, t: &Type) -> bool {
        match self {
            Builtin::Arith(Arith::Div | Arith::Rem) => t.is_real(),
            Builtin::Arith(_)
            | Builtin::Compare(_)
            | Builtin::Not
            | Builtin::Bitwise(_)
            | Builtin::BitNot
            | Builtin::Cast
            | Builtin::Convert(..)
            | Builtin::Math(_) => true,
            _ => false,
        }
    }

    /// The builtin `name` names, if any.
    pub fn from_name(name: &str) -> Option<Builtin> {
        use Builtin::*;
        Some(match name {
            "+" => Arith(self::Arith::Add),
            "-" => Arith(self::Arith::Sub),
            "*" => Arith(self::Arith::Mul),
            "/" => Arith(self::Arith::Div),
            "%" | "modulo" => Arith(self::Arith::Rem),
            "=" => Compare(self::Compare::Eq),
            "<>" | "!=" => Compare(self::Compare::Ne),
            "<" => Compare(self::Compare::Lt),
            ">" => Compare(self::Compare::Gt),
            "<=" => Compare(self::Compare::Le),
            ">=" => Compare(self::Compare::Ge),
            "not" => Not,
            "bitwise-and" => Bitwise(self::Bitwise::And),
            "bitwise-or" => Bitwise(self::Bitwise::Or),
            "bitwise-xor" => Bitwise(self::Bitwise::Xor),
            "bitwise-shift-left" => Bitwise(self::Bitwise::Shl),
            "bitwise-shift-right" => Bitwise(self::Bitwise::Shr),
            "bitwise-not" => BitNot,
            "pref" => Pref,
            "pref-ptr" => PrefPtr,
            "aref" => Aref,
            "aref-ptr" => ArefPtr,
            "pset!" => Pset,
            "aset!" => Aset,
            "afill!" => Afill,
            "tref" => Tref,
            "tref-ptr" => TrefPtr,
            "tset!" => Tset,
            "tfill!" => Tfill,
            "printf" => Printf,
            "println" => Println,
            "print" => Print,
            "free" => Free,
            "vector" => Vector,
            "vector_ref" => VectorRef,
            "vref" => Vref,
            "vset!" => Vset,
            "vfill!" => Vfill,
            "array" => Array,
            "array_ref" => ArrayRef,
            "tuple" => Tuple,
            "tuple_ref" => TupleRef,
            "callback" => Callback,
            "zone_cleanup" => ZoneCleanup,
            "convert" => Cast,
            "now" => Now,
            "next_event_time" => NextEventTime,
            _ => {
                if let Some(m) = self::Math::from_name(name) {
                    return Some(Math(m));
                }
                let (a, b) = name.split_once("to")?;
                Convert(Scalar::from_name(a)?, Scalar::from_name(b)?)
            }
        })
    }

    /// True for the builtins that compute on values only: no memory access, call or
    /// output.
    pub fn is_pure(self) -> bool {
        matches!(
            self,
            Builtin::Arith(_)
                | Builtin::Compare(_)
                | Builtin::Not
                | Builtin::Bitwise(_)
                | Builtin::BitNot
                | Builtin::Math(_)
                | Builtin::Convert(..)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_their_builtins() {
        assert_eq!(
            Builtin::from_name("modulo"),
            Some(Builtin::Arith(Arith::Rem))
        );
        assert_eq!(
            Builtin::from_name("!="),
            Some(Builtin::Compare(Compare::Ne))
        );
        assert_eq!(Builtin::from_name("pset!"), Some(Builtin::Pset));
        assert_eq!(
            Builtin::from_name("i64tod"),
            Some(Builtin::Convert(Scalar::I64, Scalar::D))
        );
        assert_eq!(
            Builtin::from_name("cos_fast"),
            Some(Builtin::Math(Math::CosFast))
        );
        assert_eq!(Builtin::from_name("i64toq"), None);
        assert_eq!(Builtin::from_name("my_func"), None);
    }

    #[test]
    fn every_math_builtin_reads_back_from_its_name() {
        for m in Math::ALL {
            assert_eq!(Math::from_name(m.name()), Some(m));
        }
        assert_eq!(Math::Pow.arity(), 2);
        assert_eq!(Math::Sqrt.arity(), 1);
    }
}
