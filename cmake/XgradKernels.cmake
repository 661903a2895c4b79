# Per-source architecture flags for the Conv1d kernels (included from the top CMakeLists after the
# xgrad target exists). Each conv1d_<arch>.cpp compiles the same microkernels for one instruction
# set; conv1d_isa.cpp picks one at run time with __builtin_cpu_supports, and conv1d_generic.cpp
# (no extra flags) keeps the library running on any CPU.
set(XGRAD_KERNEL_DIR ${CMAKE_CURRENT_LIST_DIR}/../nn/kernels)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  if(EXISTS ${XGRAD_KERNEL_DIR}/conv1d_avx2.cpp)
    set_source_files_properties(${XGRAD_KERNEL_DIR}/conv1d_avx2.cpp
      PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mtune=haswell;-ffp-contract=fast")
  endif()
  if(EXISTS ${XGRAD_KERNEL_DIR}/conv1d_avx512_on_avx2.cpp)
    # -Wno-psabi: 64-byte vectors without AVX-512 pass differently; the tiles never pass them across files.
    set_source_files_properties(${XGRAD_KERNEL_DIR}/conv1d_avx512_on_avx2.cpp
      PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mtune=haswell;-ffp-contract=fast;-Wno-psabi")
  endif()
  if(EXISTS ${XGRAD_KERNEL_DIR}/conv1d_avx512.cpp)
    set_source_files_properties(${XGRAD_KERNEL_DIR}/conv1d_avx512.cpp
      PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512vl;-mavx512bw;-mavx512dq;-mfma;-mprefer-vector-width=512;-mtune=skylake-avx512;-ffp-contract=fast")
  endif()
endif()
# a*b + c in the tiles must become one FMA (ISO mode, -std=c++20, defaults to -ffp-contract=off).
set_source_files_properties(${XGRAD_KERNEL_DIR}/conv1d_generic.cpp PROPERTIES COMPILE_OPTIONS "-ffp-contract=fast")
