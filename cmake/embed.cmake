# wv_embed(OUT SYMBOL FILES BASEDIR): writes OUT, a C file defining
#   const struct wv_embedded SYMBOL[] = {{"rel/path", data, len}, ..., {0}};
# The generator runs at build time, so editing an embedded file rebuilds.
function(wv_embed out symbol files basedir)
    # A list's ';' would end the shell command: pass the files '|'-separated.
    string(REPLACE ";" "|" files_arg "${files}")
    add_custom_command(OUTPUT ${out}
        COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol} "-DFILES=${files_arg}"
                -DBASEDIR=${basedir} -P ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
        DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
        COMMENT "Embedding ${symbol}" VERBATIM)
endfunction()
