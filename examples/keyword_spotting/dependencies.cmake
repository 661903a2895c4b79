# Finds the system libraries the keyword_spotting data code needs and sets
# KWS_DEPENDENCIES_FOUND (and KWS_MISSING, the ones not found). Included by this folder and by
# tests/examples, which is configured before examples/ and so can't ask whether kws_data exists.
# The results are cache variables, so the second include finds them at once.
find_path(KWS_ESPEAK_NG_INCLUDE_DIR espeak-ng/speak_lib.h)
find_library(KWS_ESPEAK_NG_LIBRARY espeak-ng)
find_path(KWS_SNDFILE_INCLUDE_DIR sndfile.h)
find_library(KWS_SNDFILE_LIBRARY sndfile)
find_path(KWS_SAMPLERATE_INCLUDE_DIR samplerate.h)
find_library(KWS_SAMPLERATE_LIBRARY samplerate)

set(KWS_MISSING)
foreach(pair IN ITEMS "ESPEAK_NG;libespeak-ng-dev" "SNDFILE;libsndfile1-dev" "SAMPLERATE;libsamplerate0-dev")
  list(GET pair 0 name)
  list(GET pair 1 package)
  if(NOT KWS_${name}_INCLUDE_DIR OR NOT KWS_${name}_LIBRARY)
    list(APPEND KWS_MISSING ${package})
  endif()
endforeach()
if(KWS_MISSING)
  set(KWS_DEPENDENCIES_FOUND OFF)
else()
  set(KWS_DEPENDENCIES_FOUND ON)
endif()
