# wasm3.cmake - wasm3 0.5.0 for every board build: the Linux board and the glue tests
# (boards/linux), the RISC-V target (boards/riscv) and the ESP-IDF component
# (boards/esp32/components/wasm3). One source, one configuration:
#
#   trackagent_wasm3_source(<var>)   sets <var> to a directory of wasm3 0.5.0's core sources,
#                                    each file checked against wasm3-0.5.0.sha256
#   trackagent_wasm3_core_sources(<dir> <var>)
#                                    sets <var> to the .c files of that list in <dir>: the
#                                    core, without the WASI/libc/tracer extras a wasm3
#                                    checkout's source/ also holds
#   trackagent_wasm3_defines(<var>)  sets <var> to the NAME=VALUE list of wasm3.defines
#   trackagent_add_wasm3(<target> [METERED])
#                                    a static library of those sources with those defines;
#                                    METERED routes wasm3's malloc/calloc/realloc/free through
#                                    heap_meter.c (the measured heap figures)
#
# Where the sources come from, in order:
#   - WASM3_SOURCE_DIR (a CMake variable or the environment): a wasm3 v0.5.0 `source/`
#     directory, e.g. a checkout of the release tag;
#   - otherwise the sdist of pywasm3 0.5.0 from PyPI (its wasm3/ directory is wasm3 0.5.0's
#     core), fetched once with `pip download` into the cache directory and checked against
#     the pinned SHA-256 below before it is unpacked. The cache is TRACKAGENT_CACHE_DIR
#     (variable or environment), by default build/wasm3-src at the repository root (ignored
#     by git). Nothing fetched is ever written into the source tree.
# Either way every file is checked against wasm3-0.5.0.sha256 before anything compiles it.
include_guard(GLOBAL)

set(TRACKAGENT_WASM3_VERSION "0.5.0")
set(TRACKAGENT_PYWASM3_SDIST "pywasm3-0.5.0.tar.gz")
set(TRACKAGENT_PYWASM3_SHA256 "5a47c8a39f7f6ae71b3316b2e5d86c9d0db6e771a65f09a86e4d4aa3a19aefcc")

get_filename_component(TRACKAGENT_BOARDS_COMMON "${CMAKE_CURRENT_LIST_DIR}" ABSOLUTE)
get_filename_component(TRACKAGENT_REPO_ROOT "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# Every file of `dir` named in the manifest, with its hash. Other files may be there (a
# wasm3 checkout's source/ has the WASI and libc extras): they are never compiled.
function(_trackagent_wasm3_verify dir)
    file(STRINGS "${TRACKAGENT_BOARDS_COMMON}/wasm3-0.5.0.sha256" lines REGEX "^[0-9a-f]+  ")
    foreach(line IN LISTS lines)
        string(REGEX MATCH "^([0-9a-f]+)  (.+)$" _ "${line}")
        set(want "${CMAKE_MATCH_1}")
        set(name "${CMAKE_MATCH_2}")
        if(NOT EXISTS "${dir}/${name}")
            message(FATAL_ERROR "wasm3 sources in ${dir} lack ${name}: not wasm3 ${TRACKAGENT_WASM3_VERSION}; unset WASM3_SOURCE_DIR or point it at wasm3 v${TRACKAGENT_WASM3_VERSION}'s source/")
        endif()
        file(SHA256 "${dir}/${name}" got)
        if(NOT got STREQUAL want)
            message(FATAL_ERROR "wasm3 source ${dir}/${name} does not match its pinned SHA-256 (boards/common/wasm3-0.5.0.sha256): not wasm3 ${TRACKAGENT_WASM3_VERSION}, or changed; use an unmodified copy")
        endif()
    endforeach()
endfunction()

function(trackagent_wasm3_core_sources dir out)
    file(STRINGS "${TRACKAGENT_BOARDS_COMMON}/wasm3-0.5.0.sha256" lines REGEX "^[0-9a-f]+  .+\\.c$")
    set(sources "")
    foreach(line IN LISTS lines)
        string(REGEX MATCH "^[0-9a-f]+  (.+)$" _ "${line}")
        list(APPEND sources "${dir}/${CMAKE_MATCH_1}")
    endforeach()
    set(${out} "${sources}" PARENT_SCOPE)
endfunction()

# Fetches (once) and unpacks the pinned sdist; returns its wasm3/ directory.
function(_trackagent_wasm3_fetch out)
    if(TRACKAGENT_CACHE_DIR)
        set(cache "${TRACKAGENT_CACHE_DIR}")
    elseif(DEFINED ENV{TRACKAGENT_CACHE_DIR})
        set(cache "$ENV{TRACKAGENT_CACHE_DIR}")
    else()
        set(cache "${TRACKAGENT_REPO_ROOT}/build/wasm3-src")
    endif()
    set(src "${cache}/pywasm3-${TRACKAGENT_WASM3_VERSION}/wasm3")
    set(${out} "${src}" PARENT_SCOPE)
    if(EXISTS "${src}/wasm3.h")
        return()
    endif()
    set(sdist "${cache}/${TRACKAGENT_PYWASM3_SDIST}")
    if(NOT EXISTS "${sdist}")
        find_program(TRACKAGENT_PYTHON NAMES python3 python REQUIRED)
        message(STATUS "wasm3 ${TRACKAGENT_WASM3_VERSION}: fetching the pywasm3 sdist with pip into ${cache}")
        file(MAKE_DIRECTORY "${cache}")
        execute_process(
            COMMAND "${TRACKAGENT_PYTHON}" -m pip download --quiet --no-deps --no-binary :all:
                    "pywasm3==${TRACKAGENT_WASM3_VERSION}" -d "${cache}"
            RESULT_VARIABLE rc ERROR_VARIABLE err)
        if(NOT rc EQUAL 0 OR NOT EXISTS "${sdist}")
            string(STRIP "${err}" err)
            message(FATAL_ERROR "wasm3 ${TRACKAGENT_WASM3_VERSION}: pip download of pywasm3 failed (${err}); install python3-pip, or set WASM3_SOURCE_DIR to a wasm3 v${TRACKAGENT_WASM3_VERSION} source/ directory")
        endif()
    endif()
    file(SHA256 "${sdist}" got)
    if(NOT got STREQUAL TRACKAGENT_PYWASM3_SHA256)
        file(REMOVE "${sdist}")
        message(FATAL_ERROR "wasm3 ${TRACKAGENT_WASM3_VERSION}: ${sdist} does not have the pinned SHA-256; removed it, configure again to fetch it anew")
    endif()
    # Unpack beside, then move into place: an interrupted unpack leaves no half tree behind.
    set(tmp "${cache}/unpack.tmp")
    file(REMOVE_RECURSE "${tmp}")
    file(ARCHIVE_EXTRACT INPUT "${sdist}" DESTINATION "${tmp}" PATTERNS "pywasm3-${TRACKAGENT_WASM3_VERSION}/wasm3")
    file(REMOVE_RECURSE "${cache}/pywasm3-${TRACKAGENT_WASM3_VERSION}")
    file(RENAME "${tmp}/pywasm3-${TRACKAGENT_WASM3_VERSION}" "${cache}/pywasm3-${TRACKAGENT_WASM3_VERSION}")
    file(REMOVE_RECURSE "${tmp}")
endfunction()

function(trackagent_wasm3_source out)
    if(WASM3_SOURCE_DIR)
        set(src "${WASM3_SOURCE_DIR}")
    elseif(DEFINED ENV{WASM3_SOURCE_DIR})
        set(src "$ENV{WASM3_SOURCE_DIR}")
    else()
        _trackagent_wasm3_fetch(src)
    endif()
    get_filename_component(src "${src}" ABSOLUTE)
    _trackagent_wasm3_verify("${src}")
    set(${out} "${src}" PARENT_SCOPE)
endfunction()

# wasm3.defines: NAME=VALUE lines, '#' comments. TRACKAGENT_WASM3_DEFINES (a list of
# NAME=VALUE) overrides or adds some, for experiments.
function(trackagent_wasm3_defines out)
    file(STRINGS "${TRACKAGENT_BOARDS_COMMON}/wasm3.defines" lines)
    set(defs "")
    foreach(line IN LISTS lines)
        string(REGEX REPLACE "#.*" "" line "${line}")
        string(STRIP "${line}" line)
        if(line)
            list(APPEND defs "${line}")
        endif()
    endforeach()
    foreach(extra IN LISTS TRACKAGENT_WASM3_DEFINES)
        string(REGEX REPLACE "=.*" "" name "${extra}")
        list(FILTER defs EXCLUDE REGEX "^${name}(=|$)")
        list(APPEND defs "${extra}")
    endforeach()
    set(${out} "${defs}" PARENT_SCOPE)
endfunction()

function(trackagent_add_wasm3 target)
    cmake_parse_arguments(arg "METERED" "" "" ${ARGN})
    trackagent_wasm3_source(src)
    trackagent_wasm3_defines(defs)
    trackagent_wasm3_core_sources("${src}" sources)
    add_library(${target} STATIC ${sources})
    # Everyone who includes wasm3's headers (the glue) sees the configuration wasm3 was
    # compiled with: w3_api.c reads a few internal structures.
    target_compile_definitions(${target} PUBLIC ${defs})
    target_include_directories(${target} SYSTEM PUBLIC "${src}")
    # wasm3's own code is not held to the project's warnings.
    target_compile_options(${target} PRIVATE -w)
    if(arg_METERED)
        target_compile_definitions(${target} PRIVATE
            malloc=trackagent_m3_malloc calloc=trackagent_m3_calloc
            realloc=trackagent_m3_realloc free=trackagent_m3_free)
    endif()
    set_target_properties(${target} PROPERTIES C_STANDARD 99 C_EXTENSIONS ON)
endfunction()
