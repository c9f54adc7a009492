;; The procedures of Extempore's runtime Scheme that its libraries and examples lean on
;; (the pattern language, pc_ivl, topclock), in every session as in Extempore: list
;; builders and folds, Common Lisp-style list slicing, shuffling, exact-number parts,
;; and the clock in seconds. Written for zonal with Extempore's names and meanings.

;; (make-list-with-proc N F): (F 0) ... (F N-1)
(define (make-list-with-proc n f)
  (let loop ((i (- n 1)) (out '()))
    (if (< i 0) out (loop (- i 1) (cons (f i) out)))))

;; (repeat N X): N copies of X; also (repeat X N) for a list X, as Extempore's
;; examples/core/synth.xtm writes it
(define (repeat n x)
  (if (and (pair? n) (integer? x))
      (repeat x n)
      (let loop ((i n) (out '()))
        (if (<= i 0) out (loop (- i 1) (cons x out))))))

;; (range END), (range START END), (range START END STEP): START up to, not including, END
(define (range . args)
  (let ((start (if (null? (cdr args)) 0 (car args)))
        (end (if (null? (cdr args)) (car args) (cadr args)))
        (step (if (and (pair? (cdr args)) (pair? (cddr args))) (caddr args) 1)))
    (if (or (not (number? start)) (not (number? end)) (not (number? step)) (= step 0))
        (error "range takes numbers and a step that is not 0: (range 0 4 1/2)" args))
    (make-list-with-proc (max 0 (ceiling (/ (- end start) step)))
                         (lambda (i) (+ start (* i step))))))

;; every element of nested lists, in order, in one list
(define (flatten l)
  (cond ((null? l) '())
        ((pair? (car l)) (append (flatten (car l)) (flatten (cdr l))))
        ((null? (car l)) (flatten (cdr l)))
        (else (cons (car l) (flatten (cdr l))))))

;; (foldl F INIT LIST): (F (F INIT x0) x1) ...; (foldr F INIT LIST): (F x0 (F x1 ... INIT))
(define (foldl f acc l)
  (if (null? l) acc (foldl f (f acc (car l)) (cdr l))))
(define (foldr f end l)
  (if (null? l) end (f (car l) (foldr f end (cdr l)))))

;; the list in a random order
(define (jumble l)
  (let ((v (list->vector l)))
    (let loop ((i (- (vector-length v) 1)))
      (if (> i 0)
          (let* ((j (random (+ i 1))) (x (vector-ref v i)))
            (vector-set! v i (vector-ref v j))
            (vector-set! v j x)
            (loop (- i 1)))))
    (vector->list v)))

;; Common Lisp's list slicing, in Extempore's argument order
(define (cl:nthcdr n l)
  (if (or (<= n 0) (null? l)) l (cl:nthcdr (- n 1) (cdr l))))
(define (cl:butnthcdr n l)
  (if (or (<= n 0) (null? l)) '() (cons (car l) (cl:butnthcdr (- n 1) (cdr l)))))
(define (cl:last l n) (cl:nthcdr (- (length l) n) l))
(define (cl:butlast l n) (cl:butnthcdr (- (length l) n) l))
(define (cl:remove-duplicates l)
  (let loop ((l l) (seen '()))
    (cond ((null? l) (reverse seen))
          ((member (car l) seen) (loop (cdr l) seen))
          (else (loop (cdr l) (cons (car l) seen))))))
(define (cl:union a b)
  (cl:remove-duplicates (append a b)))
(define (cl:intersection a b)
  (cl:remove-duplicates (let loop ((a a))
                          (cond ((null? a) '())
                                ((member (car a) b) (cons (car a) (loop (cdr a))))
                                (else (loop (cdr a)))))))
(define (cl:set-difference a b)
  (let loop ((a a))
    (cond ((null? a) '())
          ((member (car a) b) (loop (cdr a)))
          (else (cons (car a) (loop (cdr a)))))))

(define (atom? x) (not (pair? x)))
(define (closure? x) (procedure? x))

;; the numerator and denominator of a beat (an inexact one is made exact first)
(define (rational->n x) (numerator (if (exact? x) x (real->rational x))))
(define (rational->d x) (denominator (if (exact? x) x (real->rational x))))

;; The clock in seconds: zonal's is the session's sample clock (renders repeat, and
;; no other machine shares it), so the conversions are exact.
(define (clock:clock) (exact->inexact (/ (now) *samplerate*)))
(define (samples->clock t) (exact->inexact (/ t *samplerate*)))
(define (clock->samples s) (exact (round (* s *samplerate*))))

;; Extempore's other name for callback: (schedule TIME F ARGS ...)
(define schedule callback)
