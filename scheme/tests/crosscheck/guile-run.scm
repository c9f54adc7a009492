;; Guile 3 driver for the cross-check: evaluates each top-level form of a conformance file in
;; turn, printing "!! KEY" for an error and going on, as the Rust runner does.
(define (run-file path)
  (call-with-input-file path
    (lambda (port)
      (let loop ()
        (let ((form (read port)))
          (unless (eof-object? form)
            (catch #t
              (lambda () (eval form (interaction-environment)))
              (lambda (key . args) (display "!! ") (display key) (newline)))
            (force-output)
            (loop)))))))
(run-file (cadr (command-line)))
