; Benchmark: string and symbol building: 10^5 names made with string-append and
; number->string, interned with string->symbol, turned back with symbol->string.
; Portable: zonal, TinyScheme, Guile.
(define (name i) (string-append "voice-" (number->string i) "-gain"))
(define (build i total)
  (if (= i 100000)
      total
      (let* ((sym (string->symbol (name (remainder i 1000))))
             (str (symbol->string sym)))
        (build (+ i 1) (+ total (string-length str))))))
(define (join i acc)
  (if (= i 2000)
      (string-length acc)
      (join (+ i 1) (string-append acc (number->string i)))))
(display (build 0 0))
(newline)
(display (join 0 ""))
(newline)
