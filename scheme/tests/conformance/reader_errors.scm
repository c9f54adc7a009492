;; Reader errors. Chunks between ";;; ---" lines are read separately, so one bad chunk only
;; stops itself; positions are those of the whole file.
(display "before")
(newline)
;;; ---
(1 2
;;; ---
"unterminated string
;;; ---
)
;;; ---
(1 2))
;;; ---
#\nosuchchar
;;; ---
#z
;;; ---
(1 . )
;;; ---
( . 1)
;;; ---
(1 . 2 3)
;;; ---
#| never closed
;;; ---
#(1 2
;;; ---
"bad escape \q"
;;; ---
'
;;; ---
.
;;; ---
(display '.)
;;; ---
(a . . b)
;;; ---
#(1 . 2)
;;; ---
(display '(a ... b .5 -.5 .a))
(newline)
;;; ---
(display "after")
(newline)
