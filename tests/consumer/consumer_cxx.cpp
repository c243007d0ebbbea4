// The same consumer compiled as C++ by the CMake package check.
#include "consumer.c"
