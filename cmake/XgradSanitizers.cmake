# XGRAD_SANITIZE=address,undefined (or thread) instruments every target of the build.
if(XGRAD_SANITIZE)
  message(STATUS "xgrad: building with -fsanitize=${XGRAD_SANITIZE}")
  add_compile_options(-fsanitize=${XGRAD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${XGRAD_SANITIZE})
endif()
