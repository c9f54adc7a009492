;; zonal prelude: the higher-order and derived procedures, written in Scheme.
;; Loaded into every interpreter by builtins::install.

(define (member x l . eq)
  (if (null? eq)
      (%member x l)
      (let loop ((l l))
        (cond ((not (pair? l)) #f)
              (((car eq) x (car l)) l)
              (else (loop (cdr l)))))))

(define (assoc x l . eq)
  (if (null? eq)
      (%assoc x l)
      (let loop ((l l))
        (cond ((not (pair? l)) #f)
              (((car eq) x (caar l)) (car l))
              (else (loop (cdr l)))))))

(define (map f l . ls)
  (if (null? ls)
      (let loop ((l l) (acc '()))
        (if (pair? l)
            (loop (cdr l) (cons (f (car l)) acc))
            (reverse acc)))
      (let loop ((ls (cons l ls)) (acc '()))
        (if (every pair? ls)
            (loop (map cdr ls) (cons (apply f (map car ls)) acc))
            (reverse acc)))))

(define (for-each f l . ls)
  (if (null? ls)
      (let loop ((l l))
        (if (pair? l)
            (begin (f (car l)) (loop (cdr l)))))
      (let loop ((ls (cons l ls)))
        (if (every pair? ls)
            (begin (apply f (map car ls)) (loop (map cdr ls)))))))

(define (every pred l . ls)
  (if (null? ls)
      (let loop ((l l) (last #t))
        (if (pair? l)
            (let ((r (pred (car l))))
              (if r (loop (cdr l) r) #f))
            last))
      (let loop ((ls (cons l ls)) (last #t))
        (if (every pair? ls)
            (let ((r (apply pred (map car ls))))
              (if r (loop (map cdr ls) r) #f))
            last))))

(define (any pred l . ls)
  (if (null? ls)
      (let loop ((l l))
        (and (pair? l)
             (or (pred (car l)) (loop (cdr l)))))
      (let loop ((ls (cons l ls)))
        (and (every pair? ls)
             (or (apply pred (map car ls)) (loop (map cdr ls)))))))

(define (filter pred l)
  (let loop ((l l) (acc '()))
    (cond ((not (pair? l)) (reverse acc))
          ((pred (car l)) (loop (cdr l) (cons (car l) acc)))
          (else (loop (cdr l) acc)))))

(define (remove pred l) (filter (lambda (x) (not (pred x))) l))

(define (partition pred l)
  (values (filter pred l) (remove pred l)))

(define (delete x l . eq)
  (let ((same? (if (null? eq) equal? (car eq))))
    (filter (lambda (y) (not (same? x y))) l)))

(define (delete-duplicates l . eq)
  (let ((same? (if (null? eq) equal? (car eq))))
    (let loop ((l l) (acc '()))
      (cond ((not (pair? l)) (reverse acc))
            ((any (lambda (y) (same? y (car l))) acc) (loop (cdr l) acc))
            (else (loop (cdr l) (cons (car l) acc)))))))

(define (find pred l)
  (let loop ((l l))
    (cond ((not (pair? l)) #f)
          ((pred (car l)) (car l))
          (else (loop (cdr l))))))

(define (find-tail pred l)
  (let loop ((l l))
    (cond ((not (pair? l)) #f)
          ((pred (car l)) l)
          (else (loop (cdr l))))))

(define (list-index pred l)
  (let loop ((l l) (i 0))
    (cond ((not (pair? l)) #f)
          ((pred (car l)) i)
          (else (loop (cdr l) (+ i 1))))))

(define (count pred l)
  (let loop ((l l) (n 0))
    (if (pair? l)
        (loop (cdr l) (if (pred (car l)) (+ n 1) n))
        n)))

(define (filter-map f l)
  (let loop ((l l) (acc '()))
    (if (pair? l)
        (let ((r (f (car l))))
          (loop (cdr l) (if r (cons r acc) acc)))
        (reverse acc))))

(define (append-map f l) (apply append (map f l)))

(define (fold-left f init l . ls)
  (if (null? ls)
      (let loop ((acc init) (l l))
        (if (pair? l) (loop (f acc (car l)) (cdr l)) acc))
      (let loop ((acc init) (ls (cons l ls)))
        (if (every pair? ls)
            (loop (apply f acc (map car ls)) (map cdr ls))
            acc))))

(define (fold-right f init l . ls)
  (if (null? ls)
      (let loop ((acc init) (l (reverse l)))
        (if (pair? l) (loop (f (car l) acc) (cdr l)) acc))
      (let loop ((acc init) (ls (map reverse (cons l ls))))
        (if (every pair? ls)
            (loop (apply f (append (map car ls) (list acc))) (map cdr ls))
            acc))))

(define (fold f init l . ls)
  (if (null? ls)
      (let loop ((acc init) (l l))
        (if (pair? l) (loop (f (car l) acc) (cdr l)) acc))
      (let loop ((acc init) (ls (cons l ls)))
        (if (every pair? ls)
            (loop (apply f (append (map car ls) (list acc))) (map cdr ls))
            acc))))

(define (reduce f init l)
  (if (pair? l)
      (fold-left (lambda (acc x) (f x acc)) (car l) (cdr l))
      init))

(define (reduce-right f init l)
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

(define (sort seq less?)
  (if (procedure? seq)
      (sort less? seq)
      (if (vector? seq)
          (list->vector (%sort-list (vector->list seq) less?))
          (%sort-list seq less?))))

(define (list-sort less? seq) (sort seq less?))
(define (sort! seq less?) (sort seq less?))
(define (merge a b less?) (%merge-lists a b less?))

(define (vector-map f v . vs)
  (list->vector (apply map f (vector->list v) (map vector->list vs))))

(define (vector-for-each f v . vs)
  (apply for-each f (vector->list v) (map vector->list vs)))

(define (string-map f s . ss)
  (list->string (apply map f (string->list s) (map string->list ss))))

(define (string-for-each f s . ss)
  (apply for-each f (string->list s) (map string->list ss)))

(define (string-count s pred)
  (count pred (string->list s)))

(define (hash-table-update! table key f . default)
  (hash-table-set! table key
                   (f (if (null? default)
                          (hash-table-ref table key)
                          (hash-table-ref table key (car default))))))

(define (hash-table-update!/default table key f default)
  (hash-table-set! table key (f (hash-table-ref/default table key default))))

(define (hash-table-walk table f)
  (for-each (lambda (entry) (f (car entry) (cdr entry)))
            (hash-table->alist table)))

(define (hash-table-for-each table f) (hash-table-walk table f))

(define (hash-table-fold table f init)
  (fold-left (lambda (acc entry) (f (car entry) (cdr entry) acc))
             init
             (hash-table->alist table)))

(define (alist->hash-table alist . eq)
  (let ((table (apply make-hash-table eq)))
    (for-each (lambda (entry)
                (if (not (hash-table-contains? table (car entry)))
                    (hash-table-set! table (car entry) (cdr entry))))
              alist)
    table))

(define (make-parameter init . converter)
  (let ((value (if (null? converter) init ((car converter) init))))
    (lambda args
      (if (null? args)
          value
          (set! value (car args))))))

(define (%parameterize params values thunk)
  (let ((old (map (lambda (p) (p)) params)))
    (dynamic-wind
      (lambda () (for-each (lambda (p v) (p v)) params values))
      thunk
      (lambda () (for-each (lambda (p v) (p v)) params old)))))

(define (stream-car s) (car s))
(define (stream-cdr s) (force (cdr s)))

(define (char-ascii? c) (< (char->integer c) 128))

(define (exact-nonnegative-integer? x) (and (exact-integer? x) (>= x 0)))

(define (list-tabulate n f)
  (let loop ((i (- n 1)) (acc '()))
    (if (< i 0) acc (loop (- i 1) (cons (f i) acc)))))

(define (vector-grow v n)
  (let ((new (make-vector n 0)))
    (vector-copy! new 0 v)
    new))

(define (append! . ls) (apply append ls))
(define (reverse! l) (reverse l))
(define (void . args) (if #f #f))

(define (floor/ n d) (values (floor-quotient n d) (floor-remainder n d)))
(define (truncate/ n d) (values (truncate-quotient n d) (truncate-remainder n d)))

(define (string-index s pred)
  (let ((n (string-length s)))
    (let loop ((i 0))
      (cond ((= i n) #f)
            ((if (char? pred) (char=? pred (string-ref s i)) (pred (string-ref s i))) i)
            (else (loop (+ i 1)))))))
