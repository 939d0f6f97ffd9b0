# Warning and sanitizer settings shared by every nkscape target, as an interface target.
add_library(nkscape_options INTERFACE)
add_library(nkscape::options ALIAS nkscape_options)
target_compile_options(nkscape_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wnon-virtual-dtor
  -Woverloaded-virtual -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
# GCC 12 reports false -Wrestrict positives inside libstdc++'s std::string at -O3 (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(nkscape_options INTERFACE -Wno-restrict)
endif()
if(NKSCAPE_WERROR)
  target_compile_options(nkscape_options INTERFACE -Werror)
endif()
if(NKSCAPE_SANITIZE)
  target_compile_options(nkscape_options INTERFACE -fsanitize=${NKSCAPE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(nkscape_options INTERFACE -fsanitize=${NKSCAPE_SANITIZE})
  # `omp simd` is a vectorisation hint; sanitizer instrumentation makes Clang unable to honour it,
  # and it reports that as a -Wpass-failed warning, which -Werror would turn into a build failure.
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(nkscape_options INTERFACE -Wno-pass-failed)
  endif()
endif()
