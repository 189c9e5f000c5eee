# Compiler warnings and sanitizer flags shared by every target of the project.
add_library(spear_build_flags INTERFACE)
target_compile_options(spear_build_flags INTERFACE
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor -Wold-style-cast
  -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  $<$<BOOL:${SPEAR_WERROR}>:-Werror>)
# Asio is header-only here; one flag set keeps every TU's view of it identical.
target_compile_definitions(spear_build_flags INTERFACE
  BOOST_ASIO_NO_DEPRECATED)

if(SPEAR_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Coroutine frames trip -fsanitize=function under clang-14 (toolchain.md).
    list(APPEND _san -fno-sanitize=function)
  endif()
  target_compile_options(spear_build_flags INTERFACE ${_san})
  target_link_options(spear_build_flags INTERFACE ${_san})
endif()
