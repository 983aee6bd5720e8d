# Fills a man page template with the options of a program's --help, so the
# page's option list is the option table itself and cannot drift from it.
#
#   cmake -DPROGRAM=path/to/mstream -DTEMPLATE=mstream.1.in -DOUTPUT=mstream.1 -P help2roff.cmake
#
# The template is hand-written roff; @MS_MAN_OPTIONS@ becomes one .TP entry
# per option of the "options:" section of `PROGRAM --help` (printed by
# src/core/ms_opt.c: "  NAMES [METAVAR]   description [default: X]", an
# "(alias --camelCase)" line below some), and @MS_MAN_VERSION@ the version
# from `PROGRAM --version`.  tests/docs/test_install.py checks the result.
foreach(v PROGRAM TEMPLATE OUTPUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "help2roff.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${PROGRAM} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2roff.cmake: ${PROGRAM} --help exited ${rc}")
endif()
execute_process(COMMAND ${PROGRAM} --version OUTPUT_VARIABLE version RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2roff.cmake: ${PROGRAM} --version exited ${rc}")
endif()
string(REGEX REPLACE " \\(.*$" "" version "${version}")

# roff text: backslashes as \e, a leading . or ' guarded, every ASCII hyphen
# as \- (so options in the text stay hyphens that can be copied and searched).
function(roff_text out text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "^([.'])" "\\\\&\\1" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
function(roff_opt out text)
  string(REPLACE "-" "\\-" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

string(REPLACE ";" "\\;" help "${help}")
string(REPLACE "\n" ";" lines "${help}")
set(in_options OFF)
set(roff "")
set(count 0)
foreach(line IN LISTS lines)
  if(line STREQUAL "options:")
    set(in_options ON)
    continue()
  endif()
  if(NOT in_options)
    continue()
  endif()
  if(line STREQUAL "")
    break()
  endif()
  if(line MATCHES "^ +\\(alias (--[A-Za-z0-9]+)\\)$")
    roff_opt(alias "${CMAKE_MATCH_1}")
    string(APPEND roff ".br\nAlias: \\fB${alias}\\fR\n")
  elseif(line MATCHES "^  ((-[A-Za-z], )?--[a-z0-9-]+|-[A-Za-z])( ([A-Z0-9_=|,:.]+|[a-z]+[|][a-z|]+))? +(.*)$")
    set(names "${CMAKE_MATCH_1}")
    set(metavar "${CMAKE_MATCH_4}")
    set(desc "${CMAKE_MATCH_5}")
    roff_opt(names "${names}")
    string(REPLACE ", " "\\fR, \\fB" names "${names}")
    roff_text(desc "${desc}")
    string(APPEND roff ".TP\n\\fB${names}\\fR")
    if(NOT metavar STREQUAL "")
      roff_text(metavar "${metavar}")
      string(APPEND roff " \\fI${metavar}\\fR")
    endif()
    string(APPEND roff "\n${desc}\n")
    math(EXPR count "${count} + 1")
  else()
    message(FATAL_ERROR "help2roff.cmake: cannot read this line of ${PROGRAM} --help:\n${line}")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "help2roff.cmake: no options found in ${PROGRAM} --help")
endif()

file(READ ${TEMPLATE} page)
string(REPLACE "@MS_MAN_OPTIONS@" "${roff}" page "${page}")
string(REPLACE "@MS_MAN_VERSION@" "${version}" page "${page}")
file(WRITE ${OUTPUT}.tmp "${page}")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
