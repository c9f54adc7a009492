;; Loaded by extempore.scm through `load`: defines a procedure and prints one line.
(define (loaded-square n) (* n n))
(display "loaded.scm ran")
(newline)
