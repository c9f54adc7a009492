#!/bin/sh
# Runs one conformance file under Guile 3 (see guile-run.scm) so its expectations can be
# cross-checked against an independent implementation: guile.sh FILE.scm | diff - FILE.out
here=$(dirname "$0")
exec guile --no-auto-compile -l "$here/guile-prelude.scm" "$here/guile-run.scm" "$1" 2>/dev/null
