;; Ableton Link for *metro* (built with the cargo feature `link`). The natives in
;; link.rs talk to Link; this file makes *metro* follow it.
;;
;;   (link:join [QUANTUM])  join (or start) a Link session; *metro* follows its tempo
;;                          and its beat phase within QUANTUM beats (default 4), keeping
;;                          its own beat numbers within half a quantum of what they were
;;   (link:leave)           leave; *metro* keeps the tempo and beats it had
;;   (link:peers)           how many other peers are in the session
;;   (link:tempo) / (link:set-tempo BPM)   the session's tempo; while joined,
;;                          (*metro* 'set-tempo BPM) sets the session's tempo too
;;
;; While joined, *metro* is re-anchored every 50 ms on its next whole beat, to the
;; sample at which the session reaches that beat.

(define *link:metro* #f)
(define *link:offset* 0)

;; A tempo as an exact number of thousandths of a BPM, so beats stay exact.
(define (link:exact bpm)
  (/ (inexact->exact (round (* bpm 1000))) 1000))

;; Puts *metro*'s next whole beat where the session has it, at the session's tempo
;; (both read at once: see link:anchor).
(define (link:sync)
  (let* ((beat (+ 1 (floor (*link:metro* 'beat-at-time (now)))))
         (anchor (link:anchor (- beat *link:offset*))))
    (*link:metro* 'set-tempo (link:exact (car anchor)) (cadr anchor) beat)))

(define (link:follow)
  (if (and *link:metro* (link:enabled?))
      (begin
        (link:sync)
        (callback (+ (now) (quotient *samplerate* 20)) 'link:follow))))

(define (link:join . quantum)
  (if (not *link:metro*)
      (let ((metro *metro*)
            (q (if (null? quantum) 4 (car quantum))))
        (link:enable! q)
        (let* ((here (metro 'beat-at-time (now)))
               (there (link:beat-at-time (now))))
          (set! *link:offset* (* q (round (/ (- here there) q)))))
        (set! *link:metro* metro)
        (set! *metro*
              (lambda (what . args)
                (if (eq? what 'set-tempo)
                    (begin (link:set-tempo (car args)) (link:sync) (car args))
                    (apply metro what args))))
        (link:follow)))
  (link:peers))

(define (link:leave)
  (if *link:metro*
      (begin
        (set! *metro* *link:metro*)
        (set! *link:metro* #f)
        (link:disable!)))
  #t)
