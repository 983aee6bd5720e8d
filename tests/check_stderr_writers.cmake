# ctest stderr_writers: src/core/ms_log.c is the only writer of stderr in the
# mstream binary (ms_log.h: one record = one line, display form, whatever the
# arguments hold).  Fails, naming file and line, on any other file under
# src/ that hands stderr or fd 2 to a function.
#   cmake -DSRC=<tree>/src -P check_stderr_writers.cmake
file(GLOB_RECURSE _files ${SRC}/*.c ${SRC}/*.h)
set(_re "([(,][ \t]*stderr[ \t]*[),])|STDERR_FILENO|(perror[ \t]*\\()|(dprintf[ \t]*\\([ \t]*2[ \t]*,)|(write[ \t]*\\([ \t]*2[ \t]*,)|(fdopen[ \t]*\\([ \t]*2[ \t]*,)")
set(_bad "")
foreach(_f ${_files})
  if(_f MATCHES "/core/ms_log\\.c$")
    continue()
  endif()
  file(READ ${_f} _text)
  # One list item per line: protect the list separator first.
  string(REPLACE ";" "<semicolon>" _text "${_text}")
  string(REPLACE "\n" ";" _lines "${_text}")
  set(_n 0)
  foreach(_l IN LISTS _lines)
    math(EXPR _n "${_n} + 1")
    if(_l MATCHES "${_re}")
      string(REPLACE "<semicolon>" ";" _l "${_l}")
      string(APPEND _bad "  ${_f}:${_n}: ${_l}\n")
    endif()
  endforeach()
endforeach()
if(_bad)
  message(FATAL_ERROR "stderr is written outside src/core/ms_log.c (use ms_log/ms_warn/... or "
                      "ms_say, which keep one record per line and escape names):\n${_bad}")
endif()
message(STATUS "stderr is written by src/core/ms_log.c only")
