; Benchmark: closure-heavy loop: 10^6 closures made, composed and called.
; Portable: zonal, TinyScheme, Guile.
(define (make-adder n) (lambda (x) (+ x n)))
(define (compose f g) (lambda (x) (f (g x))))
(define (run i acc)
  (if (= i 1000000)
      acc
      (run (+ i 1) ((compose (make-adder i) (make-adder 1)) acc))))
(define (counter)
  (let ((n 0))
    (lambda () (set! n (+ n 1)) n)))
(define (tick c k)
  (if (= k 0) (c) (begin (c) (tick c (- k 1)))))
(display (run 0 0))
(newline)
(display (tick (counter) 200000))
(newline)
