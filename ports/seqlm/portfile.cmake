# vcpkg port of seqlm, header-only: installs the headers, the CMake package (seqlm::seqlm)
# and seqlm.pc. The source is the tagged release; tests/vcpkg/seqlm is the same port with
# SOURCE_PATH set to the checkout, for testing before a release (see its portfile).
if(NOT DEFINED SOURCE_PATH)
    vcpkg_from_github(
        OUT_SOURCE_PATH SOURCE_PATH
        REPO seqlm/seqlm
        REF "v${VERSION}"
        SHA512 0
        HEAD_REF main
    )
endif()

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        openmp SEQLM_OPENMP
)

set(VCPKG_BUILD_TYPE release) # header-only port

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DSEQLM_BUILD_TESTS=OFF
        -DSEQLM_BUILD_EXAMPLES=OFF
        -DSEQLM_BUILD_BENCHMARKS=OFF
        -DSEQLM_KERAS=OFF
        -DSEQLM_MPI=OFF
        ${FEATURE_OPTIONS}
)

vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/seqlm)
vcpkg_fixup_pkgconfig()

# CMake installs the license to share/doc/seqlm; vcpkg keeps it as share/seqlm/copyright.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/doc" "${CURRENT_PACKAGES_DIR}/lib")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
