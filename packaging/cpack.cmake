# Debian package of the appliance (cpack -G DEB).
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "spear-edge")
set(CPACK_PACKAGE_CONTACT "Spear Edge <dev@spear-edge.local>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Function-execution appliance for edge gateways")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
