# Overlay-test variant of ports/seqlm: the same port, built from this checkout instead of the
# tagged release, so the port can be tested before a release exists:
#   vcpkg install seqlm --overlay-ports=tests/vcpkg --binarysource=clear ...
# vcpkg.json and usage are links to ports/seqlm's. vcpkg's ABI hash covers the port folder, not
# the checkout: pass --binarysource=clear (or a fresh install root) after changing sources.
file(REAL_PATH "${CURRENT_PORT_DIR}/../../.." SOURCE_PATH)
message(STATUS "${PORT}: source ${SOURCE_PATH} (the checkout)")
include("${SOURCE_PATH}/ports/seqlm/portfile.cmake")
