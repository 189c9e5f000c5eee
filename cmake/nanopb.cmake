# nanopb code generation with Debian's generator: protoc + the protoc-gen-nanopb plugin (package
# `nanopb`), runtime from `libnanopb-dev` (nanopb::protobuf-nanopb-static). Include once.
include_guard(GLOBAL)

find_package(nanopb 0.4 REQUIRED CONFIG)
find_program(SPEAR_PROTOC protoc REQUIRED)
# Debian's plugin runs /usr/bin/python3 (it has python3-protobuf); a pyenv python3 first on PATH
# has no protobuf module, so the plugin is named explicitly rather than found through PATH.
find_program(SPEAR_PROTOC_GEN_NANOPB protoc-gen-nanopb PATHS /usr/bin NO_DEFAULT_PATH)
find_program(SPEAR_PROTOC_GEN_NANOPB protoc-gen-nanopb REQUIRED)

# spear_nanopb_generate(<out_var> <proto> <options>)
# Generates <name>.pb.c and <name>.pb.h for <proto> into ${CMAKE_CURRENT_BINARY_DIR}/nanopb and
# sets <out_var> to both paths (the directory is <out_var>_DIR, for include paths).
# In plugin mode nanopb reads <name>.options only from its own -I path and says nothing when it
# finds none (it then emits callback fields instead of static arrays), so <options> must sit
# next to <proto> with the same base name, and --nanopb_opt=-I<proto dir> is always passed.
# Callers should also static_assert one field's array size (frame_messages.cpp does).
function(spear_nanopb_generate out_var proto options)
  get_filename_component(proto_abs "${proto}" ABSOLUTE)
  get_filename_component(options_abs "${options}" ABSOLUTE)
  get_filename_component(proto_dir "${proto_abs}" DIRECTORY)
  get_filename_component(options_dir "${options_abs}" DIRECTORY)
  get_filename_component(name "${proto_abs}" NAME_WE)
  get_filename_component(options_name "${options_abs}" NAME)
  if(NOT EXISTS "${options_abs}")
    message(FATAL_ERROR "nanopb options file ${options_abs} does not exist")
  endif()
  if(NOT options_dir STREQUAL proto_dir OR NOT options_name STREQUAL "${name}.options")
    message(FATAL_ERROR "nanopb reads ${name}.options next to ${name}.proto only; "
                        "got ${options_abs}")
  endif()
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/nanopb")
  set(outputs "${out_dir}/${name}.pb.c" "${out_dir}/${name}.pb.h")
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
    COMMAND ${SPEAR_PROTOC} "--plugin=protoc-gen-nanopb=${SPEAR_PROTOC_GEN_NANOPB}"
            "-I${proto_dir}" "--nanopb_out=${out_dir}" "--nanopb_opt=-I${proto_dir}"
            "${proto_abs}"
    DEPENDS "${proto_abs}" "${options_abs}"
    COMMENT "nanopb: generating ${name}.pb.c and ${name}.pb.h"
    VERBATIM)
  set(${out_var} ${outputs} PARENT_SCOPE)
  set(${out_var}_DIR "${out_dir}" PARENT_SCOPE)
endfunction()
