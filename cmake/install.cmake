# cmake --install: librefit.so (+ soname links) and librefit.a, refit.h and
# the generated refit_version.h, the CMake package (find_package(refit) ->
# refit::refit, the shared library), refit.pc (pkg-config) and bin/refit.
# Nothing of the layers' private headers is installed. tests/consumer builds
# a program against this install only.
include(CMakePackageConfigHelpers)
set(RF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/refit)

# Installed binaries find the libraries they were linked with outside the
# system paths (CUDA's, NCCL's) without LD_LIBRARY_PATH.
set_target_properties(refit_shared refit_cmd PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS refit_shared EXPORT refitTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The static library: for pkg-config --static (its dependencies are refit.pc's
# Requires.private / Libs.private); the CMake package exports the shared one.
install(TARGETS refit ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/refit.h ${RF_GEN_INCLUDE}/refit_version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS refit_cmd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT refitTargets NAMESPACE refit:: DESTINATION ${RF_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/refitConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/refitConfig.cmake INSTALL_DESTINATION ${RF_CMAKE_DIR})
# 0.x: a minor version may break the ABI (the soname is librefit.so.0 for all
# of 0.x), so only the same MAJOR.MINOR is compatible; from 1.0 the same MAJOR.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(RF_COMPAT SameMinorVersion)
else()
  set(RF_COMPAT SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/refitConfigVersion.cmake COMPATIBILITY ${RF_COMPAT})
install(FILES ${PROJECT_BINARY_DIR}/refitConfig.cmake ${PROJECT_BINARY_DIR}/refitConfigVersion.cmake
        DESTINATION ${RF_CMAKE_DIR})

# ---- refit.pc: relative to its own folder, so a prefix chosen at install
# time (cmake --install --prefix) works. MPI through Open MPI's own .pc
# where pkg-config knows one, else the flags CMake's FindMPI found.
file(RELATIVE_PATH RF_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
set(RF_PC_REQUIRES "")
set(RF_PC_FALLBACK_CFLAGS "")
set(RF_PC_FALLBACK_LIBS "")
if(PKG_CONFIG_FOUND)
  pkg_check_modules(RF_PC_MPI QUIET mpi-c)
  if(NOT RF_PC_MPI_FOUND)
    pkg_check_modules(RF_PC_MPI QUIET ompi-c)
  endif()
endif()
if(RF_PC_MPI_FOUND)
  set(RF_PC_REQUIRES ${RF_PC_MPI_MODULE_NAME})
else()
  foreach(dir ${MPI_C_INCLUDE_DIRS})
    string(APPEND RF_PC_FALLBACK_CFLAGS " -I${dir}")
  endforeach()
  foreach(lib ${MPI_C_LIBRARIES})
    string(APPEND RF_PC_FALLBACK_LIBS " ${lib}")
  endforeach()
endif()
# What librefit.a needs besides MPI (the shared library records it itself).
set(RF_PC_REQUIRES_PRIVATE "zlib")
if(TARGET PkgConfig::JANSSON)
  string(APPEND RF_PC_REQUIRES_PRIVATE " jansson")
endif()
if(TARGET PkgConfig::XXHASH)
  string(APPEND RF_PC_REQUIRES_PRIVATE " libxxhash")
endif()
set(RF_PC_LIBS_PRIVATE "-lm -lpthread")
if(NOT TARGET PkgConfig::JANSSON)
  string(APPEND RF_PC_LIBS_PRIVATE " ${JANSSON_LIBRARY}")
endif()
if(XXHASH_LIBRARY AND NOT TARGET PkgConfig::XXHASH)
  string(APPEND RF_PC_LIBS_PRIVATE " ${XXHASH_LIBRARY}")
endif()
if(REFIT_HAVE_CUDA)
  string(APPEND RF_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcudart ${NCCL_LIBRARY} -lstdc++") # the kernels are C++ objects
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/refit.pc.in ${PROJECT_BINARY_DIR}/refit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/refit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
