# spear_embed_text(OUT_CPP INPUT NAMESPACE FUNCTION): generates a .cpp defining
# `std::string_view NAMESPACE::FUNCTION()` that returns INPUT's bytes, rebuilt when INPUT changes.
function(spear_embed_text out_cpp input ns fn)
  set(script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_run.cmake")
  add_custom_command(
    OUTPUT "${out_cpp}"
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${out_cpp} -DNS=${ns} -DFN=${fn}
            -P "${script}"
    DEPENDS "${input}" "${script}"
    COMMENT "Embedding ${input}"
    VERBATIM)
endfunction()
