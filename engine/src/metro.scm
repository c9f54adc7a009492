;; The beat clock every session has, as Extempore's runtime gives it: (make-metro BPM
;; ['(TIME . BEAT)]) makes a metronome anchored at sample TIME on beat BEAT (by default
;; now and 0), and *metro* is one at 120 BPM anchored at sample 0. Beats are exact
;; numbers (rationals such as 1/3 welcome); times are samples.
;;
;;   (*metro* BEAT) or (*metro* 'get-time BEAT)  the sample time of BEAT
;;   (*metro* 'get-beat [Q])     the next beat after now on a multiple of Q (default 1)
;;   (*metro* 'beat-at-time T)   the beat at sample T
;;   (*metro* 'dur BEATS)        BEATS as a number of samples
;;   (*metro* 'get-tempo) / (*metro* 'set-tempo BPM [TIME [BEAT]])
;;                               the tempo; a change keeps the beat position continuous at
;;                               TIME (default now), or puts BEAT there
;;   (*metro* 'pos BEAT)         BEAT's place in the cycle; 'get-cycle, 'set-cycle N [BEAT]
;;   (*metro* 'get-mark)         (TIME . BEAT) of the last anchor
;;   (*metro* 'push) / 'pull     shift every time 256 samples later / earlier
;;   (*metro* 'on-change PROC)   (zonal's) call PROC with no arguments after every change
;;                               of the beat-to-time mapping (tempo, push, pull): the
;;                               pattern language moves its next event with it
;;
;; (make-metre '(2 3 2) 1/2) is Extempore's metre: groups of 2, 3 and 2 units of 1/2
;; beat, repeating. (metre BEAT) is BEAT's place in its group, 1 on a group's first
;; unit; (metre BEAT N) says whether that place is N.

(define (make-metro bpm . anchor)
  (let ((mark-time (if (null? anchor) (now) (caar anchor)))
        (mark-beat (if (null? anchor) 0 (cdar anchor)))
        (samples-per-beat (/ (* 60 *samplerate*) bpm))
        (shift 0)
        (cycle 4)
        (cycle-beat 0)
        (listeners '()))
    (define (time-of beat)
      (+ mark-time (* (- beat mark-beat) samples-per-beat) shift))
    (define (beat-of time)
      (+ mark-beat (/ (- time mark-time) samples-per-beat)))
    (define (changed result)
      (for-each (lambda (f) (f)) listeners)
      result)
    (lambda (what . args)
      (cond ((number? what) (time-of what))
            ((eq? what 'get-time) (time-of (car args)))
            ((eq? what 'get-beat)
             (let ((q (if (null? args) 1 (car args)))
                   (b (beat-of (now))))
               (* q (+ 1 (floor (/ b q))))))
            ((eq? what 'beat-at-time) (exact->inexact (beat-of (car args))))
            ((eq? what 'dur) (* (car args) samples-per-beat))
            ((eq? what 'get-tempo) (/ (* 60 *samplerate*) samples-per-beat))
            ((eq? what 'set-tempo)
             (let* ((time (if (null? (cdr args)) (now) (cadr args)))
                    (beat (if (or (null? (cdr args)) (null? (cddr args)))
                              (beat-of time)
                              (caddr args))))
               (set! mark-time time)
               (set! mark-beat beat)
               (set! samples-per-beat (/ (* 60 *samplerate*) (car args)))
               (changed (car args))))
            ((eq? what 'get-mark) (cons mark-time mark-beat))
            ((eq? what 'get-cycle) cycle)
            ((eq? what 'get-cycle-mark) cycle-beat)
            ((eq? what 'set-cycle)
             (set! cycle (car args))
             (if (pair? (cdr args)) (set! cycle-beat (cadr args)))
             cycle)
            ((eq? what 'pos) (modulo (- (car args) cycle-beat) cycle))
            ((eq? what 'push) (set! shift (+ shift 256)) (changed shift))
            ((eq? what 'pull) (set! shift (- shift 256)) (changed shift))
            ((eq? what 'on-change)
             (if (not (procedure? (car args)))
                 (error "a metro's 'on-change takes a procedure of no arguments, not" (car args)))
             (set! listeners (append listeners (list (car args))))
             (length listeners))
            (else (error "a metro knows a beat, or 'get-time 'get-beat 'beat-at-time 'dur 'get-tempo 'set-tempo 'get-mark 'get-cycle 'set-cycle 'pos 'push 'pull 'on-change; not" what))))))

(define (make-metre groups base)
  (if (or (null? groups) (not (number? base)) (<= base 0))
      (error "make-metre takes a list of group lengths and a positive unit in beats: (make-metre '(2 3 2) 1/2)" groups base))
  (let ((total (apply + groups)))
    (lambda (beat . is)
      (let loop ((q (modulo (/ beat base) total)) (gs groups))
        (if (< q (car gs))
            (let ((place (exact->inexact (+ 1 q))))
              (if (null? is) place (= (car is) place)))
            (loop (- q (car gs)) (cdr gs)))))))

(define *metro* (make-metro 120 '(0 . 0)))

;; (dsp:swap-on-beat [Q]): the next swap (the next definitions evaluated) takes effect on
;; the next beat of *metro* that is a multiple of Q (default 1), as JITLib's quant.
(define (dsp:swap-on-beat . q)
  (dsp:swap-at (*metro* (*metro* 'get-beat (if (null? q) 1 (car q))))))
