# Install the library, its headers (under include/xgrad, keeping the layer folders)
# and a CMake package so that find_package(xgrad CONFIG REQUIRED) works.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS xgrad EXPORT xgradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(header ${XGRAD_HEADERS})
  get_filename_component(dir ${header} DIRECTORY)
  install(FILES ${header} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xgrad/${dir})
endforeach()
install(FILES xgrad.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xgrad)
install(EXPORT xgradTargets NAMESPACE xgrad:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/xgrad)
configure_package_config_file(cmake/xgradConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/xgradConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/xgrad)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/xgradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/xgradConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/xgradConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/xgrad)

# xgrad::distributed, when built: a component of the same package,
#   find_package(xgrad CONFIG REQUIRED COMPONENTS distributed)
# Its internal headers (the ones that include mpi.h) are not installed.
if(TARGET xgrad_distributed)
  install(TARGETS xgrad_distributed EXPORT xgradDistributedTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  foreach(header ${XGRAD_DISTRIBUTED_HEADERS})
    if(NOT header MATCHES "(mpi_runtime|reducer)\\.hpp$")
      install(FILES ${header} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xgrad/distributed)
    endif()
  endforeach()
  install(FILES xgrad_distributed.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xgrad)
  install(EXPORT xgradDistributedTargets NAMESPACE xgrad:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/xgrad)
endif()
