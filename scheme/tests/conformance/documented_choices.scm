;; Choices R7RS leaves open, as zonal documents them (scheme/src/lib.rs): integers are 64-bit and
;; a result that does not fit is promoted to a flonum; exact rationals have 64-bit parts and
;; become flonums when a part overflows.
(define (t label v) (display label) (display " => ") (write v) (newline))

(t 'sum-overflow (+ 9223372036854775807 1))
(t 'sum-overflow-inexact (inexact? (+ 9223372036854775807 1)))
(t 'difference-overflow (- -9223372036854775808 1))
(t 'product-overflow (* 4611686018427387904 4))
(t 'negate-min (- -9223372036854775808))
(t 'no-wrap-in-loop (let loop ((i 0) (x 1)) (if (= i 70) (> x 0) (loop (+ i 1) (* x 2)))))
(t 'reader-big-integer 9223372036854775808)
(t 'half (/ 1 2))
(t 'exact-quotient (/ 6 3))
(t 'exact-quotient-exact (exact? (/ 6 3)))
(t 'rational-quotient (/ 7 2))
(t 'rational-quotient-exact (exact? (/ 7 2)))
(t 'inexact-quotient (/ 7.0 2))
(t 'rational-overflow (+ 1/9223372036854775807 1/9223372036854775806))
(t 'rational-overflow-inexact (inexact? (* 9223372036854775807/2 9223372036854775807/3)))
(t 'expt-negative (expt 2 -2))
