; Benchmark: GC churn, 10^7 short-lived pairs (10^4 lists of 1000), prints 10000000.
; Portable: zonal, TinyScheme, Guile.
(define (build n acc)
  (if (= n 0) acc (build (- n 1) (cons n acc))))
(define (count-pairs lst acc)
  (if (null? lst) acc (count-pairs (cdr lst) (+ acc 1))))
(define (churn rounds total)
  (if (= rounds 0)
      total
      (churn (- rounds 1) (+ total (count-pairs (build 1000 '()) 0)))))
(display (churn 10000 0))
(newline)
