# vcpkg port of seqlm, header-only: installs the headers, the CMake package (seqlm::seqlm)
# and seqlm.pc. The source is the tagged release; tests/vcpkg/seqlm is the same port with
# SOURCE_PATH set to the checkout, for testing before a release (see its portfile).
#
# SHA512 is that of `git archive --format=tar.gz --prefix=seqlm-0.2.0/ v0.2.0` (git 2.39, which
# compresses with its built-in gzip), the archive GitHub serves for the tag. Should GitHub's
# compression ever differ, vcpkg stops and prints the archive's actual hash: put that here.
if(NOT DEFINED SOURCE_PATH)
    vcpkg_from_github(
        OUT_SOURCE_PATH SOURCE_PATH
        REPO seqlm/seqlm
        REF "v${VERSION}"
        SHA512 a5776472bfd3b929691389c5ee656e3604fe63cbc684387f042d60fa8cfd0f6ffe5c8f91666c4e32fa02e723ea60cf78c619d5bc070793a93598975af4318c90
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
# seqlm.pc goes to share/pkgconfig (header-only), but with the openmp feature its Libs say
# -fopenmp, which vcpkg's post-build check only accepts under lib/pkgconfig. Its prefix is
# relative to its own folder (${pcfiledir}/../..), the same two levels deep in both places.
file(MAKE_DIRECTORY "${CURRENT_PACKAGES_DIR}/lib/pkgconfig")
file(RENAME "${CURRENT_PACKAGES_DIR}/share/pkgconfig/seqlm.pc" "${CURRENT_PACKAGES_DIR}/lib/pkgconfig/seqlm.pc")
vcpkg_fixup_pkgconfig()

# CMake installs the license to share/doc/seqlm; vcpkg keeps it as share/seqlm/copyright.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/doc" "${CURRENT_PACKAGES_DIR}/share/pkgconfig")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
