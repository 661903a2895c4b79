# Runs a program and checks how it ended: a CTest test of an example's bad input.
#   cmake -DCOMMAND=prog|arg|arg -DEXIT=<number or "nonzero"> -DREGEX=<regex> [-DUNCHANGED=<file>]
#         -P expect_exit.cmake
# COMMAND's words are separated by '|'. The test fails unless the program exited (a signal is a
# failure, whatever EXIT says) with status EXIT, its stdout and stderr together match REGEX, and
# the file UNCHANGED, when given, holds the same bytes afterwards as before (a checkpoint a bad run
# must not replace).
string(REPLACE "|" ";" command "${COMMAND}")
if(DEFINED UNCHANGED)
  if(NOT EXISTS "${UNCHANGED}")
    message(FATAL_ERROR "expect_exit: ${UNCHANGED} does not exist before the run")
  endif()
  file(SHA256 "${UNCHANGED}" before)
endif()
execute_process(COMMAND ${command} RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output TIMEOUT 300)
message("${output}")
if(NOT status MATCHES "^[0-9]+$")
  message(FATAL_ERROR "expect_exit: the program did not exit normally: ${status}")
endif()
if(EXIT STREQUAL "nonzero")
  if(status EQUAL 0)
    message(FATAL_ERROR "expect_exit: the program exited with status 0, expected a failure")
  endif()
elseif(NOT status EQUAL EXIT)
  message(FATAL_ERROR "expect_exit: the program exited with status ${status}, expected ${EXIT}")
endif()
if(NOT output MATCHES "${REGEX}")
  message(FATAL_ERROR "expect_exit: the output does not match '${REGEX}'")
endif()
if(DEFINED UNCHANGED)
  if(NOT EXISTS "${UNCHANGED}")
    message(FATAL_ERROR "expect_exit: ${UNCHANGED} was removed")
  endif()
  file(SHA256 "${UNCHANGED}" after)
  if(NOT before STREQUAL after)
    message(FATAL_ERROR "expect_exit: ${UNCHANGED} was changed")
  endif()
endif()
