# wv_embed(OUT SYMBOL FILES BASEDIR): writes OUT, a C file defining
#   const struct wv_embedded SYMBOL[] = {{"rel/path", data, len}, ..., {0}};
# The generator runs at build time, so editing an embedded file rebuilds.
function(wv_embed out symbol files basedir)
    add_custom_command(OUTPUT ${out}
        COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol} "-DFILES=${files}"
                -DBASEDIR=${basedir} -P ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
        DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
        COMMENT "Embedding ${symbol}" VERBATIM)
endfunction()
