;; guard, raise, raise-continuable, error, with-exception-handler, error objects.
(define (t label v) (display label) (display " => ") (write v) (newline))

(t 'guard-raise-symbol (guard (e (#t (list 'caught e))) (raise 'boom)))
(t 'guard-raise-number (guard (e ((number? e) (* e 2))) (raise 21)))
(t 'guard-clause-select (guard (e ((string? e) 'string) ((symbol? e) 'symbol)) (raise 'sym)))
(t 'guard-else (guard (e ((string? e) 'string) (else 'other)) (raise 42)))
(t 'guard-arrow (guard (e ((assq 'a e) => cdr) ((assq 'b e) => cdr)) (raise (list (cons 'a 42)))))
(t 'guard-no-raise (guard (e (#t 'caught)) 'normal))
(t 'guard-reraise (guard (outer (#t (list 'outer outer))) (guard (inner ((string? inner) 'inner)) (raise 'not-a-string))))
(t 'guard-body-sequence (guard (e (#t e)) 1 2 3))
(t 'error-object (guard (e (#t (error-object? e))) (error "something bad" 1 2)))
(t 'error-object-message (guard (e ((error-object? e) (error-object-message e))) (error "something bad" 1 2)))
(t 'error-object-irritants (guard (e ((error-object? e) (error-object-irritants e))) (error "something bad" 1 "two" 'three)))
(t 'error-no-irritants (guard (e (#t (error-object-irritants e))) (error "plain")))
(t 'raised-non-error (guard (e (#t (error-object? e))) (raise 'sym)))
(t 'error-in-nested-call
   (guard (e (#t (error-object-message e)))
     (let loop ((i 0)) (if (= i 10) (error "deep" i) (+ 1 (loop (+ i 1)))))))
(t 'builtin-error-caught (guard (e (#t 'caught-builtin)) (car '())))
(t 'builtin-error-is-error-object (guard (e (#t (error-object? e))) (vector-ref (vector 1) 5)))
(t 'with-exception-handler-escape
   (call/cc (lambda (k) (with-exception-handler (lambda (e) (k (list 'handled e))) (lambda () (raise 'oops))))))
(t 'raise-continuable
   (with-exception-handler (lambda (e) (* e 10)) (lambda () (+ 1 (raise-continuable 5)))))
(t 'handler-sees-error-message
   (call/cc (lambda (k) (with-exception-handler (lambda (e) (k (error-object-message e))) (lambda () (error "msg here"))))))
(t 'nested-handlers
   (with-exception-handler
     (lambda (e) (+ e 1))
     (lambda () (with-exception-handler (lambda (e) (raise-continuable (* e 2))) (lambda () (raise-continuable 10))))))
(t 'guard-in-loop (let loop ((i 0) (acc 0)) (if (= i 100) acc (loop (+ i 1) (+ acc (guard (e (#t 1)) (raise 'x)))))))
(define (safe-div a b) (guard (e (#t 'div-error)) (/ a b)))
(t 'guard-div-by-zero (safe-div 1 0))
(t 'guard-preserves-definitions (begin (guard (e (#t #f)) (raise 'x)) (safe-div 10 2)))
(t 'guard-value-used (+ 1 (guard (e (#t 10)) (raise 'x))))
(t 'string-irritants-written (guard (e (#t (error-object-irritants e))) (error "m" "s" #\c)))
(t 'file-error? (guard (e (#t (file-error? e))) (load "/nonexistent/zonal/file.scm")))
(t 'open-input-file-error (guard (e (#t (file-error? e))) (open-input-file "/nonexistent/zonal/file.scm")))
(t 'read-error? (guard (e (#t (read-error? e))) (read (open-input-string "(1 2"))))
;; a handler that returns from raise (or from an error) raises a secondary exception that
;; says so and shows what was raised; an outer guard can catch it
(with-exception-handler (lambda (e) 'ignored) (lambda () (raise 'boom)))
(with-exception-handler (lambda (e) 0) (lambda () (error "note out of range:" 128)))
(with-exception-handler (lambda (e) 0) (lambda () (car 5)))
(t 'secondary-exception-caught
   (guard (e (#t (list 'caught (error-object? e) (error-object-irritants e))))
     (with-exception-handler (lambda (e) 'ignored) (lambda () (raise 'boom)))))
