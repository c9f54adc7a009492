;; Proper tail calls: 10^6 iterations in every tail position, deep non-tail recursion.
(define (t label v) (display label) (display " => ") (write v) (newline))

;; Each loop below runs 10^6 times, more than the interpreter's recursion limit, so a form that
;; does not call in tail position turns its loop into a StackOverflow error. Every iteration of
;; the first loop passes through cond (else), and, or, when, unless, case and apply; every one
;; of the second through cond =>, if, begin, let, let*, letrec and a lambda body.
(define N 1000000)
(define (loop-a n)
  (cond ((= n 0) 'done-a)
        (else (and #t (or #f (when #t (unless #f (case 'go ((go) (apply loop-a (list (- n 1))))))))))))
(t 'cond-and-or-when-unless-case-apply (loop-a N))
(define (loop-b n)
  (cond ((= n 0) 'done-b)
        ((- n 1) => (lambda (m)
                      (if #t
                          (begin 'x (let ((k m)) (let* ((j k)) (letrec ((i j)) (loop-b i)))))
                          'never)))))
(t 'cond-arrow-if-begin-let-let*-letrec-lambda (loop-b N))
(t 'named-let (let loop ((i 0)) (if (= i N) 'done-named-let (loop (+ i 1)))))
(define (my-even? n) (if (= n 0) #t (my-odd? (- n 1))))
(define (my-odd? n) (if (= n 0) #f (my-even? (- n 1))))
(t 'mutual-recursion (my-even? N))
(t 'do (do ((i 0 (+ i 1))) ((= i N) 'done-do)))
(define (via-and-last n) (or (= n 0) (and (> n 0) (via-and-last (- n 1)))))
(t 'or-and-last-position (via-and-last N))
(define (via-cps n k) (if (= n 0) (k 'done-cps) (via-cps (- n 1) (lambda (v) (k v)))))
(t 'continuation-passing (via-cps 100000 (lambda (v) v)))
(define (count-up n) (if (= n 0) 0 (+ 1 (count-up (- n 1)))))
(t 'deep-non-tail-recursion (count-up 100000))
(define (build n) (if (= n 0) '() (cons n (build (- n 1)))))
(t 'deep-non-tail-cons (length (build 100000)))
(t 'deep-map (length (map (lambda (v) (+ v 1)) (build 100000))))
(t 'deep-append (length (append (build 100000) (build 10))))
(t 'deep-equal (equal? (build 100000) (build 100000)))
(define (nest n) (if (= n 0) '() (list (nest (- n 1)))))
(define (depth l) (if (null? l) 0 (+ 1 (depth (car l)))))
(t 'deep-nested-list (depth (nest 100000)))
