;; What Extempore's Scheme (s7) gives that its programs and tests use: keywords by
;; s7's rule, char-position, call-with-exit, symbol->value and macro objects,
;; macroexpand as a special form expanding once, define-macro scoped to its body,
;; sys:apply-top-level, error reports that echo the form with no backtrace, *s7*.
(define (t label v) (display label) (display " => ") (write v) (newline))

;; a colon makes a keyword only next to a letter, so :> and :| can name macros
(t 'keyword-rule (map keyword? '(:readable foo: :> :| : a:b x)))
(t 'keyword->symbol (list (keyword->symbol :beat) (keyword->symbol 'beat:)))
(t 'symbol->keyword (symbol->keyword 'dur))
(keyword->symbol 'plain)
(t 'trailing-colon-self-evaluates foo:)
(define* (kw (b 2) (c 3)) (list b c))
(t 'define*-trailing-colon-keyword (kw c: 10))
(define-macro (:> name . args) `(list ',name ,@args))
(t 'colon-operator-macro (:> A 1 2))

(t 'char-position (list (char-position #\c "abcabc") (char-position #\c "abcabc" 3)
                        (char-position "xb" "abc") (char-position #\z "abc")))
(char-position 5 "abc")

(t 'call-with-exit (call-with-exit (lambda (return) (for-each (lambda (x) (if (> x 2) (return x))) '(1 2 3 4)) 'none)))

(define-macro (twice x) `(begin ,x ,x))
(define-macro (outer x) `(twice ,x))
(t 'symbol->value (symbol->value 'car))
(t 'symbol->value-of-a-macro (macro? (symbol->value 'twice)))
(t 'macro?-of-other-values (map macro? (list 1 car "twice")))
(symbol->value 'no-such-thing-anywhere)
(t 'macroexpand-unquoted (macroexpand (outer (f 1))))
(t 'macroexpand-quoted (macroexpand '(outer (f 1))))
(t 'macroexpand-not-a-macro (macroexpand (car x)))

;; a define-macro in a body is seen to the body's end, and hides a global one there
(define-macro (which) ''global)
(define (scoped) (define-macro (which) ''local) (which))
(t 'body-macro-local (scoped))
(t 'body-macro-gone-after (which))
(define (nested)
  (define-macro (which) ''outer-body)
  (let () (define-macro (which) ''inner-body) (which))
  (which))
(t 'body-macro-nested (nested))

(define out (open-output-string))
(define old (set-current-error-port out))
(t 'apply-top-level-value (sys:apply-top-level + '(3 4)))
(t 'apply-top-level-error-is-its-tag (sys:apply-top-level car '(5)))
(t 'eval-string-error-is-its-tag (sys:eval-string "(car 1)"))
(t 'eval-string-unbound-tag (sys:eval-string "no-such-variable-here"))
(set-current-error-port old)
(t 'report-echoes-the-form-without-backtrace (get-output-string out))
(sys:apply-top-level car 5)

(define before (*s7* 'stack-top))
(define out2 (open-output-string))
(set-current-error-port out2)
(define (deep n) (if (= n 0) (car n) (+ 1 (deep (- n 1)))))
(do ((i 0 (+ i 1))) ((= i 20)) (sys:eval-string "(deep 50)") (sys:apply-top-level deep '(30)))
(set-current-error-port old)
(t 'stack-top-same-after-errors (= before (*s7* 'stack-top)))
(t 'stack-top-counts-calls (let ((f (lambda () (*s7* 'stack-top)))) (> (+ 0 (f)) before)))
(*s7* 'no-such-field)

;; Extempore's cl: list procedures and string helpers
(t 'cl:remove-if (list (cl:remove-if odd? '(1 2 3 4)) (cl:remove-if-not odd? '(1 2 3 4)) (cl:remove 2 '(1 2 3 2))))
(t 'cl:find-if (list (cl:find-if even? '(1 3 4 6)) (cl:find-if even? '(1 3)) (cl:member-if even? '(1 4 5))))
(t 'cl:position (list (cl:position '(b) '(a (b) c)) (cl:position 'z '(a b))))
(t 'cl:some-every (list (cl:some even? '(1 2)) (cl:every even? '(2 4)) (cl:every < '(1 2) '(2 3))))
(t 'cl:reduce (list (cl:reduce + '(1 2 3 4)) (cl:reduce - '(10 1 2)) (cl:reduce + '())))
(t 'cl:sets (list (cl:adjoin 1 '(1 2)) (cl:adjoin 3 '(1 2)) (cl:intersection '(1 2 3) '(2 3 4)) (cl:set-difference '(1 2 3) '(2))))
(t 'cl:copy-list (let* ((l (list 1 2)) (c (cl:copy-list l))) (list (equal? l c) (eq? l c))))
(cl:remove-if odd? 5)
(t 'string-contains? (list (string-contains? "hello" "ll") (string-contains? "hello" "z")))
(t 'string-strip (list (string-strip "  two words  ") (string-strip "   ") (string-strip "x")))

;; LFOs of beat with the other waves: (rampr offset amplitude cycles-per-beat)
(define beat 1/4)
(t 'rampr-trir-rectr-slider (map (lambda (x) (/ (round (* 1000 x)) 1000))
                                 (list (rampr 0 1 1) (trir 0 1 1) (rectr 0 1 1) (slider 0 1 1) (trir 0.25 0 1 1))))
(t 'waves-at-the-half (list (ramp PI) (tri-wave PI) (rect (* 1.5 PI)) (slide 0)))
(t 'tanr (tanr 1 0 1))
(ramp 'x)
