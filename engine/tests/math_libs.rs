//! `libs/core/rational.xtm` and `libs/core/math.xtm`: rationals and complex numbers with
//! their literals (`3/4`, `1+1i`) and operators (`+` on a `Rational` calls
//! `xtm_addition`), clamp of any number type, the random number builtins, matrix
//! indices, numeric calculus and buffer copies, checked by value.

use zonal_engine::session::{Session, SessionConfig};

fn eval(s: &mut Session, src: &str) -> String {
    s.eval_source(src, "math.xtm")
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn loaded(lib: &str) -> Session {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    eval(&mut s, &format!("(sys:load \"libs/core/{lib}.xtm\")"));
    s
}

fn number(s: &mut Session, src: &str) -> f64 {
    let out = eval(s, src);
    out.parse()
        .unwrap_or_else(|_| panic!("{src} gave {out}, not a number"))
}

#[test]
fn rational_literals_reduce_and_their_operators_call_the_overloads() {
    let mut s = loaded("rational");
    // numerator * 1000 + denominator, to read a Rational* in one number
    eval(
        &mut s,
        "(bind-func rat_code (lambda (r:Rational*) (+ (* 1000 (tref r 0)) (tref r 1))))",
    );
    let code = |s: &mut Session, e: &str| eval(s, &format!("($ (rat_code {e}))"));
    assert_eq!(
        eval(&mut s, "($ (Rational_greatest_common_divisor 4 12))"),
        "4"
    );
    assert_eq!(
        eval(&mut s, "($ (Rational_greatest_common_divisor 0 0))"),
        "-1"
    );
    assert_eq!(code(&mut s, "(Rational_reduce (Rat 3 6))"), "1002");
    assert_eq!(code(&mut s, "(Rational_reduce (Rat 2 -4))"), "-998");
    assert_eq!(code(&mut s, "-2/12"), "-994");
    assert_eq!(code(&mut s, "(+ 1/3 2/3)"), "1001");
    assert_eq!(code(&mut s, "(- 1/3 2/3)"), "-997");
    assert_eq!(code(&mut s, "(* 1/3 2/3)"), "2009");
    assert_eq!(code(&mut s, "(/ 1/3 2/3)"), "1002");
    assert_eq!(code(&mut s, "(% 7/2 1)"), "1002");
    // with integers either way round; with reals, a real
    assert_eq!(code(&mut s, "(+ 1/2 1)"), "3002");
    assert_eq!(code(&mut s, "(- 1 1/4)"), "3004");
    assert_eq!(code(&mut s, "(/ 1/2 2)"), "1004");
    assert_eq!(code(&mut s, "(* 3:i32 1/6)"), "1002");
    assert_eq!(eval(&mut s, "($ (* 1/4 2.0))"), "0.5");
    assert_eq!(eval(&mut s, "($ (rtod 3/8))"), "0.375");
    for (e, v) in [
        ("(= 3/4 6/8)", "1"),
        ("(<> 3/4 6/8)", "0"),
        ("(< 1/2 3/4)", "1"),
        ("(> 1/2 3/4)", "0"),
        ("(< 2 5/2)", "1"),
        ("(= (* (Rat 4 3) (Rat 1 2)) (/ (Rat 12 3) (Rat 12 2)))", "1"),
    ] {
        assert_eq!(eval(&mut s, &format!("($ {e})")), v, "{e}");
    }
    // numbers and pointers keep the builtin operators
    assert_eq!(eval(&mut s, "($ (+ 1 2))"), "3");
    assert_eq!(eval(&mut s, "($ (* 1.5 2.0))"), "3.0");
    assert_eq!(eval(&mut s, "($ (let ((p:i64* (salloc 1))) (= p p)))"), "1");
}

#[test]
fn an_operator_no_overload_takes_says_which_it_has() {
    let mut s = loaded("rational");
    let e = s
        .eval_source("($ (let ((p:i64* (salloc 1))) (+ 1/2 p)))", "math.xtm")
        .unwrap_err();
    assert!(
        e.message
            .contains("no definition of xtm_addition takes these"),
        "{e}"
    );
    assert_eq!(eval(&mut s, "($ (+ 1 2))"), "3");
}

#[test]
fn complex_numbers_and_their_literals_follow_the_rules_of_arithmetic() {
    let mut s = loaded("math");
    let parts = |s: &mut Session, e: &str| {
        let re = number(s, &format!("($ (tref {e} 0))"));
        let im = number(s, &format!("($ (tref {e} 1))"));
        (re, im)
    };
    assert_eq!(parts(&mut s, "1+1i"), (1.0, 1.0));
    assert_eq!(parts(&mut s, "-0.5-2i"), (-0.5, -2.0));
    assert_eq!(parts(&mut s, "(* 1+1i 0+1i)"), (-1.0, 1.0));
    assert_eq!(parts(&mut s, "(* 1+1i 2.0)"), (2.0, 2.0));
    assert_eq!(parts(&mut s, "(- 3.0 1+1i)"), (2.0, -1.0));
    assert_eq!(parts(&mut s, "(/ 1+1i 1-1i)"), (0.0, 1.0));
    let (re, im) = parts(&mut s, "(+ (Cpxd 2. 0.4) (Cpxd 5.4 6.))");
    assert!(
        (re - 7.4).abs() < 1e-12 && (im - 6.4).abs() < 1e-12,
        "{re} {im}"
    );
    assert_eq!(parts(&mut s, "(Complex_conj 3+4i)"), (3.0, -4.0));
    assert_eq!(number(&mut s, "($ (Complex_mag 3+4i))"), 5.0);
    let (re, im) = parts(&mut s, "(pol_to_cart (cart_to_pol 3+4i))");
    assert!(
        (re - 3.0).abs() < 1e-12 && (im - 4.0).abs() < 1e-12,
        "{re} {im}"
    );
    let (re, im) = parts(&mut s, "(* (Cpxf 1.0 2.0) (Cpxf 3.0 -1.0))");
    assert_eq!((re, im), (5.0, 5.0));
}

#[test]
fn clamp_and_the_random_builtins_take_each_number_type() {
    let mut s = loaded("math");
    for (e, v) in [
        ("(clamp 5:i32 0:i32 3:i32)", 3.0),
        ("(clamp -4 0 3)", 0.0),
        ("(clamp 1 0 3)", 1.0),
        ("(clamp 5. 0.4 3.3)", 3.3),
        ("(clamp -4.0:f 0.5:f 3.0:f)", 0.5),
    ] {
        assert_eq!(number(&mut s, &format!("($ {e})")), v, "{e}");
    }
    for (e, lo, hi) in [
        ("(xtc_rand2_f 2. 10.)", 2.0, 10.0),
        ("(xtc_rand1_d 10.)", 0.0, 10.0),
        ("(xtc_rand2_i32 -3 4)", -3.0, 4.0),
        ("(xtc_rand1_i64 10)", 0.0, 10.0),
        ("(xtc_randf)", 0.0, 1.0),
        ("(imp_rand2_f 0. 10.)", 0.0, 10.0),
        ("(imp_randd)", 0.0, 1.0),
        ("(random 2.0 5.0)", 2.0, 5.0),
        ("(random 3)", 0.0, 3.0),
        ("(random -2:i32 2:i32)", -2.0, 2.0),
    ] {
        for _ in 0..20 {
            let x = number(&mut s, &format!("($ {e})"));
            assert!(lo <= x && x < hi, "{e} gave {x}");
        }
    }
    // Scheme's random is Scheme's still
    let pick = eval(&mut s, "(random '(7 8))");
    assert!(pick == "7" || pick == "8", "{pick}");
}

#[test]
fn matrix_indices_calculus_and_buffer_copies_give_extempores_values() {
    let mut s = loaded("math");
    assert_eq!(eval(&mut s, "($ (rowmaj_idx_2D 1 2 3))"), "5");
    assert_eq!(eval(&mut s, "($ (colmaj_idx_2D 1 2 2))"), "5");
    let close = |s: &mut Session, e: &str, want: f64| {
        let x = number(s, &format!("($ {e})"));
        assert!((x - want).abs() < 1e-6, "{e} gave {x}, want {want}");
    };
    close(&mut s, "(ndiff (lambda (x) (exp x)) 5.0)", 5.0f64.exp());
    close(&mut s, "(ndiff (lambda (x) (* x x)) 5.0 0.001)", 10.0);
    close(&mut s, "(ndiff2 (lambda (x) (* x x x)) 2.0 0.001)", 12.0);
    close(
        &mut s,
        "(nintegrate (lambda (x) (* x x)) 4.0 5.0)",
        61.0 / 3.0,
    );
    close(
        &mut s,
        "(nintegrate (lambda (x) (sin x)) 0.0 2.0)",
        1.0 - 2.0f64.cos(),
    );
    let copied = "(let ((src:float* (salloc 4)) (dest:float* (salloc 8)))
                    (pfill! src 4. 5. 6. 7.)
                    (vcopy_unpack src dest 4 2 2)
                    (+ (pref dest 0) (* 10. (pref dest 1)) (* 100. (pref dest 4))
                       (* 1000. (pref dest 5))))";
    close(&mut s, copied, 7654.0);
    let packed = "(let ((src:double* (salloc 8)) (dest:double* (salloc 4)))
                    (pfill! src 0. 1. 2. 3. 4. 5. 6. 7.)
                    (vcopy_pack src dest 4 2 2)
                    (+ (pref dest 0) (* 10. (pref dest 1)) (* 100. (pref dest 2))
                       (* 1000. (pref dest 3)) (* 10000. (vsum dest 4))))";
    close(&mut s, packed, 5410.0 + 100000.0);
    let counted = "(let ((buf:float* (salloc 8)) (hist:HistBin* (salloc 4)))
                     (pfill! buf 0. 1. 2. 3. 4. 5. 6. 7.)
                     (histogram hist buf 8 4)
                     (+ (tref (pref hist 1) 0) (* 10. (tref (pref hist 1) 1))))";
    close(&mut s, counted, 1.75 + 20.0);
}
