# Fails when a file of a floor includes a header from a higher floor, so the layer plan stays
# true (README "The folder says the layer" shows the same table). Run as
#   cmake -DXGRAD_SOURCE_DIR=<repository> -P tests/layers/check_layers.cmake
# Every #include "..." line is read; system includes (<...>) are not xgrad's.

# The floors, bottom (1) to top: a file may include its own floor and the floors below.
set(XGRAD_FLOORS
  core=1
  autograd=2
  ops=3
  nn=4
  data=4
  optim=5
  distributed=6
  xgrad.hpp=7               # the umbrella headers stand above every floor
  xgrad_distributed.hpp=7)

if(NOT XGRAD_SOURCE_DIR)
  message(FATAL_ERROR "check_layers: pass -DXGRAD_SOURCE_DIR=<repository root>")
endif()

# floor_of(<path relative to the root> <out>): the floor of a path's first component, or "" if
# the path lies outside the floors.
function(floor_of path out)
  string(REGEX MATCH "^[^/]+" top "${path}")
  set(${out} "" PARENT_SCOPE)
  foreach(entry IN LISTS XGRAD_FLOORS)
    string(REPLACE "=" ";" pair "${entry}")
    list(GET pair 0 name)
    list(GET pair 1 floor)
    if(top STREQUAL name)
      set(${out} ${floor} PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

set(violations "")
set(checked 0)
foreach(entry IN LISTS XGRAD_FLOORS)
  string(REPLACE "=" ";" pair "${entry}")
  list(GET pair 0 folder)
  if(NOT IS_DIRECTORY ${XGRAD_SOURCE_DIR}/${folder})
    continue()
  endif()
  file(GLOB_RECURSE files RELATIVE ${XGRAD_SOURCE_DIR}
    ${XGRAD_SOURCE_DIR}/${folder}/*.hpp ${XGRAD_SOURCE_DIR}/${folder}/*.cpp ${XGRAD_SOURCE_DIR}/${folder}/*.h)
  foreach(file IN LISTS files)
    math(EXPR checked "${checked} + 1")
    floor_of(${file} own_floor)
    get_filename_component(dir ${file} DIRECTORY)
    file(STRINGS ${XGRAD_SOURCE_DIR}/${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*$" "\\1" included "${line}")
      # A bare or relative name means a file beside the includer (the compiler looks there first).
      if(EXISTS ${XGRAD_SOURCE_DIR}/${dir}/${included} AND NOT included MATCHES "/")
        set(included ${dir}/${included})
      endif()
      floor_of(${included} included_floor)
      if(included_floor STREQUAL "")
        continue()  # not a header of a floor (e.g. mpi.h)
      endif()
      if(included_floor GREATER own_floor)
        string(APPEND violations "\n  ${file} (floor ${own_floor}) includes \"${included}\" (floor ${included_floor})")
      endif()
    endforeach()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "check_layers: no source files found under ${XGRAD_SOURCE_DIR}")
endif()
if(violations)
  message(FATAL_ERROR "check_layers: a file includes a header from a higher floor "
                      "(move the code down, or the definition up):${violations}")
endif()
message(STATUS "check_layers: ${checked} files, every include on its own floor or below")
