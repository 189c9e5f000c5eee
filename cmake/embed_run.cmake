# Script mode of spear_embed_text: writes INPUT as a hex byte array into OUTPUT.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE "${OUTPUT}"
"// Generated from ${INPUT} by cmake/embed_run.cmake; do not edit.\n"
"#include <string_view>\n"
"namespace ${NS} {\n"
"namespace { constexpr char data[] = {${bytes} '\\0'}; }\n"
"std::string_view ${FN}() { return std::string_view(data, ${size}); }\n"
"}\n")
