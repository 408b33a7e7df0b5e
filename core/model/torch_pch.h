// Precompiled header of every torch translation unit (see core/CMakeLists.txt): torch/torch.h
// costs 12-35 s per unit on 2 cores when parsed from scratch.
#pragma once

#include <torch/torch.h>
