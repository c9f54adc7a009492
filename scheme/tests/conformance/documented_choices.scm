;; Choices R7RS leaves open, as zonal documents them (scheme/src/lib.rs): integers are 64-bit and
;; a result that does not fit is promoted to a flonum; there are no rationals.
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
(t 'inexact-quotient (/ 7 2))
(t 'inexact-quotient-inexact (inexact? (/ 7 2)))
(t 'expt-negative (expt 2 -2))
