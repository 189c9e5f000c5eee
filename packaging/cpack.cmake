# Debian package of the appliance (cpack -G DEB, or `tools/dev package`): spear-edge_<version>_<arch>.deb.
# Layout (prefix /usr): bin/spearlet, bin/spear-peer (their own install() rules), the demo wasm
# guests in share/spear-edge/functions/wasm (tools/functions/wasm), and here: the unit, the
# conffile, the man page, docs, copyright and changelog. The installed config is
# config/default.jsonc with node.data_dir set to /var/lib/spearlet: its wasm modules are named "$ORIGIN/../share/spear-edge/...", which
# resolves from /usr/bin/spearlet to /usr/share/spear-edge/... as it does in a build tree.
include(GNUInstallDirs)

set(spear_pkg_dir ${CMAKE_CURRENT_BINARY_DIR}/packaging)
set(spear_doc_dir ${CMAKE_INSTALL_DATADIR}/doc/spear-edge)
file(MAKE_DIRECTORY ${spear_pkg_dir})
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/changelog.in ${spear_pkg_dir}/changelog @ONLY)

# Debian wants man pages and changelogs compressed, reproducibly (gzip -n: no name or time).
add_custom_command(
  OUTPUT ${spear_pkg_dir}/spearlet.1.gz ${spear_pkg_dir}/spear-peer.1.gz ${spear_pkg_dir}/changelog.gz
  COMMAND gzip -9n -c ${CMAKE_CURRENT_LIST_DIR}/spearlet.1 > ${spear_pkg_dir}/spearlet.1.gz
  COMMAND gzip -9n -c ${CMAKE_CURRENT_LIST_DIR}/spear-peer.1 > ${spear_pkg_dir}/spear-peer.1.gz
  COMMAND gzip -9n -c ${spear_pkg_dir}/changelog > ${spear_pkg_dir}/changelog.gz
  DEPENDS ${CMAKE_CURRENT_LIST_DIR}/spearlet.1 ${CMAKE_CURRENT_LIST_DIR}/spear-peer.1
          ${spear_pkg_dir}/changelog
  VERBATIM)
add_custom_target(spear_package_files ALL
  DEPENDS ${spear_pkg_dir}/spearlet.1.gz ${spear_pkg_dir}/spear-peer.1.gz
          ${spear_pkg_dir}/changelog.gz)

# The conffile: config/default.jsonc with durable results on, in the unit's StateDirectory
# (/var/lib/spearlet): an installed gateway keeps its results and accepted work across
# restarts, a build tree's default stays in memory.
file(READ ${PROJECT_SOURCE_DIR}/config/default.jsonc spear_default_config)
string(REGEX REPLACE "\"data_dir\": \"\",[^\n]*"
       "\"data_dir\": \"/var/lib/spearlet\", // durable results: survive restarts and kill -9 (docs/operations.md)"
       spear_packaged_config "${spear_default_config}")
if(spear_packaged_config STREQUAL spear_default_config)
  message(FATAL_ERROR "packaging: config/default.jsonc has no \"data_dir\": \"\" line to set")
endif()
file(WRITE ${spear_pkg_dir}/spearlet.jsonc "${spear_packaged_config}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/config/default.jsonc)

# Absolute destinations: /etc and /lib/systemd/system stay there whatever the prefix.
install(FILES ${spear_pkg_dir}/spearlet.jsonc DESTINATION /etc/spearlet)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/spearlet.service DESTINATION /lib/systemd/system)
install(FILES ${spear_pkg_dir}/spearlet.1.gz ${spear_pkg_dir}/spear-peer.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright ${spear_pkg_dir}/changelog.gz
              ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/api.md ${PROJECT_SOURCE_DIR}/docs/wasm.md
              ${PROJECT_SOURCE_DIR}/docs/constrained-peers.md
        DESTINATION ${spear_doc_dir})
install(FILES ${CMAKE_CURRENT_LIST_DIR}/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME spear-edge)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "spear-edge")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Spear Edge <spear-edge@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Function-execution appliance for edge gateways")
set(CPACK_PACKAGE_DESCRIPTION
    "spearlet runs functions (processes, or WebAssembly modules in a sandboxed\ninterpreter or compiled ahead of time and run in a seccomp-confined worker)\nfor devices on the local network, in sync, async and stream modes,\nover HTTP, WebSocket and nanopb frames. The package ships a hardened\nType=notify systemd unit, a default config in /etc/spearlet and spear-peer, a\nconstrained-peer client.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The wasm AOT tier compiles modules with wasm2c (wabt) and the C compiler; without them
# "tier": "auto" functions (the wasm-primes demo) run in the interpreter.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "gcc | c-compiler, wabt")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/debian/conffiles ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm ${CMAKE_CURRENT_LIST_DIR}/debian/postrm)
include(CPack)
