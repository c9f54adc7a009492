;; A malformed let* binding is reported as a let error: the message should name let*, the form
;; the livecoder wrote.
(let* ((y)) y)
