;; zonal prelude: the higher-order and derived procedures, written in Scheme.
;; Loaded into every interpreter by builtins::install, without source positions: an
;; error inside these procedures is reported at the livecoder's call. Each procedure
;; checks its arguments on entry with %check / %check-lists (builtins/args.rs), so that
;; a mistake names the procedure called, the argument, what was expected and what was
;; found, not a helper's internals.

(define (member x l . eq)
  (if (null? eq)
      (%member x l)
      (let loop ((l (%check 'member 2 'list l)) (same? (%check 'member 3 'procedure (car eq))))
        (cond ((not (pair? l)) #f)
              ((same? x (car l)) l)
              (else (loop (cdr l) same?))))))

(define (assoc x l . eq)
  (if (null? eq)
      (%assoc x l)
      (let loop ((l (%check 'assoc 2 'alist l)) (same? (%check 'assoc 3 'procedure (car eq))))
        (cond ((not (pair? l)) #f)
              ((same? x (caar l)) (car l))
              (else (loop (cdr l) same?))))))

(define (map f l . ls)
  (%check 'map 1 'procedure f)
  (if (null? ls)
      (let loop ((l (%check 'map 2 'list l)) (acc '()))
        (if (pair? l)
            (loop (cdr l) (cons (f (car l)) acc))
            (reverse acc)))
      (let loop ((ls (%check-lists 'map 2 (cons l ls))) (acc '()))
        (if (every pair? ls)
            (loop (map cdr ls) (cons (apply f (map car ls)) acc))
            (reverse acc)))))

(define (for-each f l . ls)
  (%check 'for-each 1 'procedure f)
  (if (null? ls)
      (let loop ((l (%check 'for-each 2 'list l)))
        (if (pair? l)
            (begin (f (car l)) (loop (cdr l)))))
      (let loop ((ls (%check-lists 'for-each 2 (cons l ls))))
        (if (every pair? ls)
            (begin (apply f (map car ls)) (loop (map cdr ls)))))))

(define (every pred l . ls)
  (%check 'every 1 'procedure pred)
  (if (null? ls)
      (let loop ((l (%check 'every 2 'list l)) (last #t))
        (if (pair? l)
            (let ((r (pred (car l))))
              (if r (loop (cdr l) r) #f))
            last))
      (let loop ((ls (%check-lists 'every 2 (cons l ls))) (last #t))
        (if (every pair? ls)
            (let ((r (apply pred (map car ls))))
              (if r (loop (map cdr ls) r) #f))
            last))))

(define (any pred l . ls)
  (%check 'any 1 'procedure pred)
  (if (null? ls)
      (let loop ((l (%check 'any 2 'list l)))
        (and (pair? l)
             (or (pred (car l)) (loop (cdr l)))))
      (let loop ((ls (%check-lists 'any 2 (cons l ls))))
        (and (every pair? ls)
             (or (apply pred (map car ls)) (loop (map cdr ls)))))))

(define (filter pred l)
  (%check 'filter 1 'procedure pred)
  (let loop ((l (%check 'filter 2 'list l)) (acc '()))
    (cond ((not (pair? l)) (reverse acc))
          ((pred (car l)) (loop (cdr l) (cons (car l) acc)))
          (else (loop (cdr l) acc)))))

(define (remove pred l)
  (%check 'remove 1 'procedure pred)
  (%check 'remove 2 'list l)
  (filter (lambda (x) (not (pred x))) l))

(define (partition pred l)
  (%check 'partition 1 'procedure pred)
  (%check 'partition 2 'list l)
  (values (filter pred l) (remove pred l)))

(define (delete x l . eq)
  (%check 'delete 2 'list l)
  (let ((same? (if (null? eq) equal? (%check 'delete 3 'procedure (car eq)))))
    (filter (lambda (y) (not (same? x y))) l)))

(define (delete-duplicates l . eq)
  (%check 'delete-duplicates 1 'list l)
  (let ((same? (if (null? eq) equal? (%check 'delete-duplicates 2 'procedure (car eq)))))
    (let loop ((l l) (acc '()))
      (cond ((not (pair? l)) (reverse acc))
            ((any (lambda (y) (same? y (car l))) acc) (loop (cdr l) acc))
            (else (loop (cdr l) (cons (car l) acc)))))))

(define (find pred l)
  (%check 'find 1 'procedure pred)
  (let loop ((l (%check 'find 2 'list l)))
    (cond ((not (pair? l)) #f)
          ((pred (car l)) (car l))
          (else (loop (cdr l))))))

(define (find-tail pred l)
  (%check 'find-tail 1 'procedure pred)
  (let loop ((l (%check 'find-tail 2 'list l)))
    (cond ((not (pair? l)) #f)
          ((pred (car l)) l)
          (else (loop (cdr l))))))

(define (list-index pred l)
  (%check 'list-index 1 'procedure pred)
  (let loop ((l (%check 'list-index 2 'list l)) (i 0))
    (cond ((not (pair? l)) #f)
          ((pred (car l)) i)
          (else (loop (cdr l) (+ i 1))))))

(define (count pred l)
  (%check 'count 1 'procedure pred)
  (let loop ((l (%check 'count 2 'list l)) (n 0))
    (if (pair? l)
        (loop (cdr l) (if (pred (car l)) (+ n 1) n))
        n)))

(define (filter-map f l)
  (%check 'filter-map 1 'procedure f)
  (let loop ((l (%check 'filter-map 2 'list l)) (acc '()))
    (if (pair? l)
        (let ((r (f (car l))))
          (loop (cdr l) (if r (cons r acc) acc)))
        (reverse acc))))

(define (append-map f l)
  (%check 'append-map 1 'procedure f)
  (%check 'append-map 2 'list l)
  (apply append (map f l)))

(define (fold-left f init l . ls)
  (%check 'fold-left 1 'procedure f)
  (if (null? ls)
      (let loop ((acc init) (l (%check 'fold-left 3 'list l)))
        (if (pair? l) (loop (f acc (car l)) (cdr l)) acc))
      (let loop ((acc init) (ls (%check-lists 'fold-left 3 (cons l ls))))
        (if (every pair? ls)
            (loop (apply f acc (map car ls)) (map cdr ls))
            acc))))

(define (%shortest lists)
  (let loop ((lists lists) (n #f))
    (if (null? lists)
        n
        (let ((len (if (list? (car lists)) (length (car lists)) n)))
          (loop (cdr lists) (if (and n len) (min n len) (or n len)))))))

(define (fold-right f init l . ls)
  (%check 'fold-right 1 'procedure f)
  (if (null? ls)
      (let loop ((acc init) (l (reverse (%check 'fold-right 3 'list l))))
        (if (pair? l) (loop (f (car l) acc) (cdr l)) acc))
      (let loop ((acc init)
                 (ls (let ((n (%shortest (%check-lists 'fold-right 3 (cons l ls)))))
                       (map (lambda (l) (reverse (list-head l n))) (cons l ls)))))
        (if (every pair? ls)
            (loop (apply f (append (map car ls) (list acc))) (map cdr ls))
            acc))))

(define (fold f init l . ls)
  (%check 'fold 1 'procedure f)
  (if (null? ls)
      (let loop ((acc init) (l (%check 'fold 3 'list l)))
        (if (pair? l) (loop (f (car l) acc) (cdr l)) acc))
      (let loop ((acc init) (ls (%check-lists 'fold 3 (cons l ls))))
        (if (every pair? ls)
            (loop (apply f (append (map car ls) (list acc))) (map cdr ls))
            acc))))

(define (reduce f init l)
  (%check 'reduce 1 'procedure f)
  (%check 'reduce 3 'list l)
  (if (pair? l)
      (fold-left (lambda (acc x) (f x acc)) (car l) (cdr l))
      init))

(define (reduce-right f init l)
  (%check 'reduce-right 1 'procedure f)
  (%check 'reduce-right 3 'list l)
  (if (pair? l)
      (let loop ((l (reverse l)))
        (if (pair? (cdr l))
            (f (cadr l) (loop (cons (car l) (cddr l))))
            (car l)))
      init))

(define (%merge-lists a b less?)
  (let loop ((a a) (b b) (acc '()))
    (cond ((null? a) (append (reverse acc) b))
          ((null? b) (append (reverse acc) a))
          ((less? (car b) (car a)) (loop a (cdr b) (cons (car b) acc)))
          (else (loop (cdr a) b (cons (car a) acc))))))

(define (%sort-list l less?)
  (let ((n (length l)))
    (if (< n 2)
        (list-copy l)
        (let ((half (quotient n 2)))
          (%merge-lists (%sort-list (list-head l half) less?)
                          (%sort-list (list-tail l half) less?)
                          less?)))))

(define (%sort who seq less? seq-index less-index)
  (%check who less-index 'procedure less?)
  (%check who seq-index 'sequence seq)
  (if (vector? seq)
      (list->vector (%sort-list (vector->list seq) less?))
      (%sort-list seq less?)))

;; (sort sequence less?), and (sort less? sequence) as some Schemes take it
(define (sort seq less?)
  (if (and (procedure? seq) (not (procedure? less?)))
      (%sort 'sort less? seq 2 1)
      (%sort 'sort seq less? 1 2)))

(define (list-sort less? seq) (%sort 'list-sort seq less? 2 1))
(define (sort! seq less?) (%sort 'sort! seq less? 1 2))
(define (merge a b less?)
  (%check 'merge 1 'list a)
  (%check 'merge 2 'list b)
  (%check 'merge 3 'procedure less?)
  (%merge-lists a b less?))

;; the elements of each of `seqs` (arguments 2, 3, ... of `who`) as lists
(define (%elements who kind ->list seqs)
  (let loop ((seqs seqs) (i 2) (acc '()))
    (if (null? seqs)
        (reverse acc)
        (loop (cdr seqs) (+ i 1) (cons (->list (%check who i kind (car seqs))) acc)))))

(define (vector-map f v . vs)
  (%check 'vector-map 1 'procedure f)
  (list->vector (apply map f (%elements 'vector-map 'vector vector->list (cons v vs)))))

(define (vector-for-each f v . vs)
  (%check 'vector-for-each 1 'procedure f)
  (apply for-each f (%elements 'vector-for-each 'vector vector->list (cons v vs))))

(define (string-map f s . ss)
  (%check 'string-map 1 'procedure f)
  (list->string (apply map f (%elements 'string-map 'string string->list (cons s ss)))))

(define (string-for-each f s . ss)
  (%check 'string-for-each 1 'procedure f)
  (apply for-each f (%elements 'string-for-each 'string string->list (cons s ss))))

(define (string-count s pred)
  (%check 'string-count 1 'string s)
  (%check 'string-count 2 'procedure pred)
  (count pred (string->list s)))

(define (hash-table-update! table key f . default)
  (%check 'hash-table-update! 1 'hash-table table)
  (%check 'hash-table-update! 3 'procedure f)
  (hash-table-set! table key
                   (f (cond ((pair? default)
                             (hash-table-ref table key
                                             (%check 'hash-table-update! 4 'procedure (car default))))
                            ((hash-table-contains? table key) (hash-table-ref table key))
                            (else (%range-error 'hash-table-update!
                                                "the key is not in the table, and no default was given"
                                                key))))))

(define (hash-table-update!/default table key f default)
  (%check 'hash-table-update!/default 1 'hash-table table)
  (%check 'hash-table-update!/default 3 'procedure f)
  (hash-table-set! table key (f (hash-table-ref/default table key default))))

(define (hash-table-walk table f)
  (%check 'hash-table-walk 1 'hash-table table)
  (%check 'hash-table-walk 2 'procedure f)
  (for-each (lambda (entry) (f (car entry) (cdr entry)))
            (hash-table->alist table)))

(define (hash-table-for-each table f)
  (%check 'hash-table-for-each 1 'hash-table table)
  (%check 'hash-table-for-each 2 'procedure f)
  (hash-table-walk table f))

(define (hash-table-fold table f init)
  (%check 'hash-table-fold 1 'hash-table table)
  (%check 'hash-table-fold 2 'procedure f)
  (fold-left (lambda (acc entry) (f (car entry) (cdr entry) acc))
             init
             (hash-table->alist table)))

(define (alist->hash-table alist . eq)
  (%check 'alist->hash-table 1 'alist alist)
  (let ((table (apply make-hash-table eq)))
    (for-each (lambda (entry)
                (if (not (hash-table-contains? table (car entry)))
                    (hash-table-set! table (car entry) (cdr entry))))
              alist)
    table))

;; A parameter is a procedure: (p) is its value; (p v) sets it to (converter v);
;; parameterize converts its new values the same way and restores the old ones as they
;; were, through the private third argument %parameter-restore.
(define %parameter-restore (list 'restore))

(define (make-parameter init . converter)
  (let* ((convert (if (null? converter)
                      (lambda (x) x)
                      (%check 'make-parameter 2 'procedure (car converter))))
         (value (convert init)))
    (lambda args
      (cond ((null? args) value)
            ((and (pair? (cdr args)) (eq? (cadr args) %parameter-restore)) (set! value (car args)))
            (else (set! value (convert (car args))))))))

(define (%parameterize params values thunk)
  (for-each (lambda (p) (%check 'parameterize 1 'procedure p)) params)
  (let ((old (map (lambda (p) (p)) params)))
    (dynamic-wind
      (lambda () (for-each (lambda (p v) (p v)) params values))
      thunk
      (lambda () (for-each (lambda (p v) (p v %parameter-restore)) params old)))))

(define (stream-car s) (car (%check 'stream-car 1 'pair s)))
(define (stream-cdr s) (force (cdr (%check 'stream-cdr 1 'pair s))))

(define (char-ascii? c) (< (char->integer (%check 'char-ascii? 1 'char c)) 128))

(define (exact-nonnegative-integer? x) (and (exact-integer? x) (>= x 0)))

(define (list-tabulate n f)
  (%check 'list-tabulate 1 'index n)
  (%check 'list-tabulate 2 'procedure f)
  (let loop ((i (- n 1)) (acc '()))
    (if (< i 0) acc (loop (- i 1) (cons (f i) acc)))))

(define (vector-grow v n)
  (%check 'vector-grow 1 'vector v)
  (%check 'vector-grow 2 'index n)
  (if (< n (vector-length v))
      (%range-error 'vector-grow "the new size is smaller than the vector" n))
  (let ((new (make-vector n 0)))
    (vector-copy! new 0 v)
    new))

;; SRFI-1 selectors and splitters
(define (%nth who l k)
  (let loop ((tail l) (i k))
    (cond ((not (pair? tail))
           (if (null? tail)
               (%range-error who "the list is too short" l)
               (%check who 1 'list l)))
          ((= i 0) (car tail))
          (else (loop (cdr tail) (- i 1))))))
(define (first l) (%nth 'first l 0))
(define (second l) (%nth 'second l 1))
(define (third l) (%nth 'third l 2))
(define (fourth l) (%nth 'fourth l 3))
(define (fifth l) (%nth 'fifth l 4))

(define (take-while pred l)
  (%check 'take-while 1 'procedure pred)
  (let loop ((l (%check 'take-while 2 'list l)) (acc '()))
    (if (and (pair? l) (pred (car l)))
        (loop (cdr l) (cons (car l) acc))
        (reverse acc))))

(define (drop-while pred l)
  (%check 'drop-while 1 'procedure pred)
  (let loop ((l (%check 'drop-while 2 'list l)))
    (if (and (pair? l) (pred (car l)))
        (loop (cdr l))
        l)))

(define (span pred l)
  (%check 'span 1 'procedure pred)
  (%check 'span 2 'list l)
  (values (take-while pred l) (drop-while pred l)))

(define (break pred l)
  (%check 'break 1 'procedure pred)
  (%check 'break 2 'list l)
  (span (lambda (x) (not (pred x))) l))

(define (concatenate ls) (apply append (%check 'concatenate 1 'list ls)))

(define (append-reverse rev tail) (append (reverse (%check 'append-reverse 1 'list rev)) tail))

(define (alist-copy alist)
  (map (lambda (entry) (cons (car entry) (cdr entry))) (%check 'alist-copy 1 'alist alist)))

(define (alist-delete key alist . eq)
  (%check 'alist-delete 2 'alist alist)
  (let ((same? (if (null? eq) equal? (%check 'alist-delete 3 'procedure (car eq)))))
    (filter (lambda (entry) (not (same? key (car entry)))) alist)))

;; files: output is collected as a string and written when the procedure returns
(define (call-with-output-file path proc)
  (%check 'call-with-output-file 1 'string path)
  (%check 'call-with-output-file 2 'procedure proc)
  (let* ((port (open-output-string))
         (result (proc port)))
    (%write-file path (get-output-string port))
    result))

(define (with-output-to-file path thunk)
  (%check 'with-output-to-file 1 'string path)
  (%check 'with-output-to-file 2 'procedure thunk)
  (%write-file path (with-output-to-string thunk)))

(define (call-with-input-file path proc)
  (%check 'call-with-input-file 1 'string path)
  (%check 'call-with-input-file 2 'procedure proc)
  (proc (open-input-file path)))

(define (append! . ls)
  (let loop ((rest ls) (i 1))
    (if (and (pair? rest) (pair? (cdr rest)))
        (begin (%check 'append! i 'list (car rest)) (loop (cdr rest) (+ i 1)))))
  (apply append ls))
(define (reverse! l) (reverse (%check 'reverse! 1 'list l)))
(define (void . args) (if #f #f))

(define (floor/ n d)
  (%check 'floor/ 1 'integer n)
  (%check 'floor/ 2 'integer d)
  (values (floor-quotient n d) (floor-remainder n d)))
(define (truncate/ n d)
  (%check 'truncate/ 1 'integer n)
  (%check 'truncate/ 2 'integer d)
  (values (truncate-quotient n d) (truncate-remainder n d)))

(define (string-index s pred)
  (%check 'string-index 1 'string s)
  (%check 'string-index 2 'char-or-procedure pred)
  (let ((n (string-length s)))
    (let loop ((i 0))
      (cond ((= i n) #f)
            ((if (char? pred) (char=? pred (string-ref s i)) (pred (string-ref s i))) i)
            (else (loop (+ i 1)))))))

;; R7RS cond-expand: the feature identifiers are those of builtins/system.rs FEATURES;
;; (library (scheme ...)) is true for the standard libraries, whose names all work here
(define-syntax cond-expand
  (syntax-rules (and or not else library scheme r7rs ieee-float full-unicode zonal)
    ((_) (syntax-error "cond-expand: no clause matches the features of this Scheme" (features)))
    ((_ (else body ...)) (begin body ...))
    ((_ ((and) body ...) more ...) (begin body ...))
    ((_ ((and req1 req2 ...) body ...) more ...)
     (cond-expand (req1 (cond-expand ((and req2 ...) body ...) more ...)) more ...))
    ((_ ((or) body ...) more ...) (cond-expand more ...))
    ((_ ((or req1 req2 ...) body ...) more ...)
     (cond-expand (req1 body ...) (else (cond-expand ((or req2 ...) body ...) more ...))))
    ((_ ((not req) body ...) more ...)
     (cond-expand (req (cond-expand more ...)) (else body ...)))
    ((_ ((library (scheme name ...)) body ...) more ...) (begin body ...))
    ((_ ((library other) body ...) more ...) (cond-expand more ...))
    ((_ (r7rs body ...) more ...) (begin body ...))
    ((_ (ieee-float body ...) more ...) (begin body ...))
    ((_ (full-unicode body ...) more ...) (begin body ...))
    ((_ (zonal body ...) more ...) (begin body ...))
    ((_ (other body ...) more ...) (cond-expand more ...))))

;; ---- Extempore's Scheme (runtime/scheme.xtm and init.xtm give the meanings) ----
;; The macros below only call an expander procedure: procedures are compiled on first
;; use, so the macros cost an interpreter's start-up next to nothing.

;; symbol properties: (put sym key value) is #t, (get sym key) the value or #f
(define %symbol-properties (make-hash-table))
(define (put sym key value)
  (hash-table-set! %symbol-properties (cons sym key) value)
  #t)
(define (get sym key)
  (hash-table-ref/default %symbol-properties (cons sym key) #f))

;; (dotimes (i n) body ...): body with i from 0 to n - 1
(define-macro (dotimes spec . body) (%dotimes-expand spec body))
(define (%dotimes-expand spec body)
  (let ((loop (gensym "dotimes")) (n (gensym "n")) (i (car spec)))
    `(let ((,n ,(cadr spec)))
       (let ,loop ((,i 0))
         (if (< ,i ,n)
             (begin ,@body (,loop (+ ,i 1))))))))

;; (rotate list k): the list turned k places right (left when k is negative)
(define (rotate l k)
  (%check 'rotate 1 'list l)
  (%check 'rotate 2 'integer k)
  (let ((n (length l)))
    (if (= n 0)
        l
        (let ((cut (modulo (- n (modulo k n)) n)))
          (append (list-tail l cut) (list-head l cut))))))

(define PI 3.141592653589793)
(define TWOPI 6.283185307179586)

;; sinusoids of the variable `beat` where they are used: (cosr offset amplitude
;; cycles-per-beat), or (cosr phase offset amplitude cycles-per-beat)
(define-macro (cosr . args) (%lfo-expand 'cos args))
(define-macro (sinr . args) (%lfo-expand 'sin args))
(define (%lfo-expand wave args)
  (if (> (length args) 3)
      `(+ ,(cadr args) (* ,(caddr args) (,wave (* TWOPI (+ beat ,(car args)) ,(cadddr args)))))
      `(+ ,(car args) (* ,(cadr args) (,wave (* TWOPI beat ,(caddr args)))))))

;; (print-with-colors fg bg bold body ...): body's output in ANSI colours (black red
;; green yellow blue magenta cyan white default none), then the colours reset
(define-macro (print-with-colors fg bg bold . body) (%colors-expand fg bg bold body))
(define (%colors-expand fg bg bold body)
  (let ((result (gensym "result")))
    `(begin (%ansi-color ,fg ,bg ,bold)
            (let ((,result (begin ,@body)))
              (%ansi-color 'default 'default #f)
              ,result))))
(define (%ansi-color fg bg bold)
  (let ((code (lambda (c)
                (let ((known (assq c '((black . 0) (red . 1) (green . 2) (yellow . 3) (blue . 4)
                                       (magenta . 5) (cyan . 6) (white . 7) (default . 9) (none . 9)))))
                  (if known (cdr known) (error "print-with-colors: not a colour name" c))))))
    (display (string-append (string (integer->char 27)) "["
                            (if bold "1" "0") ";"
                            (number->string (+ 30 (code fg))) ";"
                            (number->string (+ 40 (code bg))) "m"))))

;; (define* (f a (b 2) ...) body ...), (lambda* (a (b 2) ...) body ...): every parameter
;; is optional (#f, or the default given, evaluated after the parameters before it) and
;; can be passed by position or by keyword: (f 1 :b 3)
(define-macro (lambda* params . body) (%lambda*-expand 'lambda* params body))
(define-macro (define* head . body)
  `(define ,(car head) ,(%lambda*-expand (car head) (cdr head) body)))
(define %unset (list 'unset))
(define (%lambda*-expand who params body)
  (let* ((specs (map (lambda (p) (if (pair? p) p (list p #f))) params))
         (args (gensym "args"))
         (vals (gensym "vals")))
    `(lambda ,args
       (let* ((,vals (%star-bind ',who ',(map car specs) ,args))
              ,@(let loop ((specs specs) (i 0))
                  (if (null? specs)
                      '()
                      (cons `(,(caar specs)
                              (let ((v (list-ref ,vals ,i)))
                                (if (eq? v %unset) ,(cadar specs) v)))
                            (loop (cdr specs) (+ i 1))))))
         ,@body))))
(define (%star-bind who names args)
  (let ((vals (map (lambda (n) %unset) names)))
    (let loop ((args args) (pos 0))
      (cond ((null? args) vals)
            ((and (keyword? (car args)) (pair? (cdr args))
                  (memq (keyword->symbol (car args)) names))
             => (lambda (tail)
                  (list-set! vals (- (length names) (length tail)) (cadr args))
                  (loop (cddr args) pos)))
            (else
             (let skip ((pos pos))
               (cond ((>= pos (length names))
                      (error (string-append (symbol->string who) ": too many arguments") args))
                     ((eq? (list-ref vals pos) %unset)
                      (list-set! vals pos (car args))
                      (loop (cdr args) (+ pos 1)))
                     (else (skip (+ pos 1))))))))))
