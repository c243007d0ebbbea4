# Install rules: headers to include/urt/, a CMake package and urt.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS urt urt_static EXPORT urtTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${URT_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/urt)
install(EXPORT urtTargets NAMESPACE urt:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/urt)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/urtConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/urtConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/urt)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/urtConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/urtConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/urtConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/urt)

# urt.pc finds the prefix relative to itself, so a moved install still works.
file(RELATIVE_PATH URT_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${CMAKE_CURRENT_LIST_DIR}/urt.pc.in ${CMAKE_CURRENT_BINARY_DIR}/urt.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/urt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
