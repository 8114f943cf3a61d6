# Included into llama.cpp's own CMake project when scripts/setup.sh builds llama-cpp-python
# (CMAKE_PROJECT_llama.cpp_INCLUDE). llama-cpp-python forces LLAMA_BUILD_COMMON ON in the cache,
# but its Python package and server load only libllama and libggml*: this normal variable hides
# that cache entry, so llama.cpp's `common` helper library (a third of the compile) is skipped.
set(LLAMA_BUILD_COMMON OFF)
