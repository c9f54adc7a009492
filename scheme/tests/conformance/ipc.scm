;; Extempore's inter-process calls: a process named by ipc:new is an interpreter of
;; its own on its own thread; definitions, calls and values travel as text.
(define (t label v) (display label) (display " => ") (write v) (newline))

(define times-5 (lambda (a) (* a 5)))
(t 'new-gives-the-name (ipc:new "conformance-worker" 17599))
(t 'new-again-keeps-it (ipc:new "conformance-worker" 17599))
(t 'define-a-procedure (ipc:define "conformance-worker" 'times-5 times-5))
(t 'call-waits-for-the-value (ipc:call "conformance-worker" 'times-5 2))
(t 'names (list (ipc:get-process-name) (ipc:call "conformance-worker" 'ipc:get-process-name)))

;; its globals are its own
(define counter 100)
(ipc:define "conformance-worker" 'counter 0)
(ipc:define "conformance-worker" 'bump (lambda (n) (set! counter (+ counter n)) counter))
(t 'call-async-is-true (ipc:call-async "conformance-worker" 'bump 5))
(t 'calls-run-in-order (ipc:call "conformance-worker" 'bump 1))
(t 'own-globals-untouched counter)

;; data arguments arrive as data, not evaluated
(ipc:define "conformance-worker" 'shape (lambda args (map (lambda (x) (cond ((symbol? x) 'symbol) ((pair? x) 'list) ((vector? x) 'vector) ((null? x) 'empty) (else x))) args)))
(t 'arguments-as-data (ipc:call "conformance-worker" 'shape 'sym '(1 2) #(1) '() "s" 1.5 #\c #t))
(t 'values-come-back-as-data (ipc:call "conformance-worker" 'list 'a "b" '(c 1/3)))
(ipc:eval-string "conformance-worker" "(define from-text 42)")
(t 'eval-string (ipc:call "conformance-worker" 'eval 'from-text))

;; errors
(ipc:call "conformance-worker" 'car 5)
(ipc:call "conformance-worker" 'not-defined-there 1)
(ipc:call "no-such-process" 'times-5 2)
(ipc:call "conformance-worker" 'list (open-output-string))
(ipc:new "bad-port" 0)
(t 'calling-itself-is-local (ipc:call "primary" 'times-5 3))
