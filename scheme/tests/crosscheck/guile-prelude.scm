;; Guile 3 prelude for the cross-check: brings R7RS-small, SRFI-1, SRFI-69 and R6RS folds into
;; scope and defines Extempore's print/println, so the portable conformance files run unchanged.
(import (scheme base) (scheme write) (scheme char) (scheme lazy) (scheme cxr)
        (scheme inexact) (scheme eval) (scheme read) (scheme process-context))
(use-modules (srfi srfi-1) (srfi srfi-69) ((rnrs lists) #:select (fold-left fold-right)))
;; Extempore (src/ffi/misc.inc): println writes its arguments separated by spaces (strings
;; keep their quotes) and ends the line; print does the same without quotes and without newline.
(define (spaced emit args)
  (let loop ((a args) (first #t))
    (unless (null? a)
      (unless first (display " "))
      (emit (car a))
      (loop (cdr a) #f))))
(define (println . args) (spaced write args) (newline))
(define (print . args) (spaced display args))
