// The part of cuDNN's C API that native/cuda_encoder.cu calls, declared from NVIDIA's documented API
// (cuDNN 9 "legacy" convolution and BatchNorm entry points, all still exported by libcudnn.so.9),
// so that the addon compiles where cuDNN is not installed and loads libcudnn with dlopen at run time:
// a machine without cuDNN gets a clear error instead of an addon that does not load.
//
// Where cudnn.h is found at build time (KEFER_HAVE_CUDNN_H), its own types are used and every declaration
// and constant here is checked against it at compile time (static_assert below).
#pragma once
#include <cstddef>
#include <type_traits>
#include <cuda_runtime.h>

#ifdef KEFER_HAVE_CUDNN_H
#include <cudnn.h>
#else
typedef struct cudnnContext* cudnnHandle_t;
typedef struct cudnnTensorStruct* cudnnTensorDescriptor_t;
typedef struct cudnnFilterStruct* cudnnFilterDescriptor_t;
typedef struct cudnnConvolutionStruct* cudnnConvolutionDescriptor_t;
// The enums are int-sized in the C ABI; plain ints carry them.
typedef int cudnnStatus_t;
typedef int cudnnDataType_t;
typedef int cudnnTensorFormat_t;
typedef int cudnnConvolutionMode_t;
typedef int cudnnMathType_t;
typedef int cudnnBatchNormMode_t;
typedef int cudnnDeterminism_t;
typedef int cudnnConvolutionFwdAlgo_t;
typedef int cudnnConvolutionBwdDataAlgo_t;
typedef int cudnnConvolutionBwdFilterAlgo_t;
// Algorithm search results: same layout for the three directions (algo, status, time, memory,
// determinism, math type, 3 reserved ints).
struct cudnnConvolutionFwdAlgoPerfStruct {
  cudnnConvolutionFwdAlgo_t algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};
struct cudnnConvolutionBwdDataAlgoPerfStruct {
  cudnnConvolutionBwdDataAlgo_t algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};
struct cudnnConvolutionBwdFilterAlgoPerfStruct {
  cudnnConvolutionBwdFilterAlgo_t algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};
typedef cudnnConvolutionFwdAlgoPerfStruct cudnnConvolutionFwdAlgoPerf_t;
typedef cudnnConvolutionBwdDataAlgoPerfStruct cudnnConvolutionBwdDataAlgoPerf_t;
typedef cudnnConvolutionBwdFilterAlgoPerfStruct cudnnConvolutionBwdFilterAlgoPerf_t;
#endif

namespace kdnn {
// Constants under our own names (checked against cudnn.h when it is there).
constexpr int kStatusSuccess = 0;
constexpr int kDataFloat = 0, kDataHalf = 2;
constexpr int kTensorNchw = 0, kTensorNhwc = 1;
constexpr int kCrossCorrelation = 1;
constexpr int kDefaultMath = 0, kTensorOpMath = 1, kFmaMath = 3;
constexpr int kBatchNormSpatial = 1;
constexpr int kDeterministic = 1;
constexpr int kCudnnMajor = 9;

// name, return type, parameters
#define KEFER_CUDNN_FUNCTIONS(X)                                                                                       \
  X(cudnnGetVersion, size_t, (void))                                                                                   \
  X(cudnnGetErrorString, const char*, (cudnnStatus_t))                                                                 \
  X(cudnnCreate, cudnnStatus_t, (cudnnHandle_t*))                                                                      \
  X(cudnnDestroy, cudnnStatus_t, (cudnnHandle_t))                                                                      \
  X(cudnnSetStream, cudnnStatus_t, (cudnnHandle_t, cudaStream_t))                                                      \
  X(cudnnCreateTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t*))                                            \
  X(cudnnSetTensor4dDescriptor, cudnnStatus_t,                                                                         \
    (cudnnTensorDescriptor_t, cudnnTensorFormat_t, cudnnDataType_t, int, int, int, int))                               \
  X(cudnnDestroyTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t))                                            \
  X(cudnnCreateFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t*))                                            \
  X(cudnnSetFilter4dDescriptor, cudnnStatus_t,                                                                         \
    (cudnnFilterDescriptor_t, cudnnDataType_t, cudnnTensorFormat_t, int, int, int, int))                               \
  X(cudnnDestroyFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t))                                            \
  X(cudnnCreateConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t*))                                  \
  X(cudnnSetConvolution2dDescriptor, cudnnStatus_t,                                                                    \
    (cudnnConvolutionDescriptor_t, int, int, int, int, int, int, cudnnConvolutionMode_t, cudnnDataType_t))             \
  X(cudnnSetConvolutionMathType, cudnnStatus_t, (cudnnConvolutionDescriptor_t, cudnnMathType_t))                       \
  X(cudnnDestroyConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t))                                  \
  X(cudnnFindConvolutionForwardAlgorithmEx, cudnnStatus_t,                                                             \
    (cudnnHandle_t, cudnnTensorDescriptor_t, const void*, cudnnFilterDescriptor_t, const void*,                        \
     cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, void*, int, int*, cudnnConvolutionFwdAlgoPerf_t*, void*,   \
     size_t))                                                                                                          \
  X(cudnnFindConvolutionBackwardDataAlgorithmEx, cudnnStatus_t,                                                        \
    (cudnnHandle_t, cudnnFilterDescriptor_t, const void*, cudnnTensorDescriptor_t, const void*,                        \
     cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, void*, int, int*, cudnnConvolutionBwdDataAlgoPerf_t*,      \
     void*, size_t))                                                                                                   \
  X(cudnnFindConvolutionBackwardFilterAlgorithmEx, cudnnStatus_t,                                                      \
    (cudnnHandle_t, cudnnTensorDescriptor_t, const void*, cudnnTensorDescriptor_t, const void*,                        \
     cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t, void*, int, int*, cudnnConvolutionBwdFilterAlgoPerf_t*,    \
     void*, size_t))                                                                                                   \
  X(cudnnConvolutionForward, cudnnStatus_t,                                                                            \
    (cudnnHandle_t, const void*, cudnnTensorDescriptor_t, const void*, cudnnFilterDescriptor_t, const void*,           \
     cudnnConvolutionDescriptor_t, cudnnConvolutionFwdAlgo_t, void*, size_t, const void*, cudnnTensorDescriptor_t,     \
     void*))                                                                                                           \
  X(cudnnConvolutionBackwardData, cudnnStatus_t,                                                                       \
    (cudnnHandle_t, const void*, cudnnFilterDescriptor_t, const void*, cudnnTensorDescriptor_t, const void*,           \
     cudnnConvolutionDescriptor_t, cudnnConvolutionBwdDataAlgo_t, void*, size_t, const void*,                          \
     cudnnTensorDescriptor_t, void*))                                                                                  \
  X(cudnnConvolutionBackwardFilter, cudnnStatus_t,                                                                     \
    (cudnnHandle_t, const void*, cudnnTensorDescriptor_t, const void*, cudnnTensorDescriptor_t, const void*,           \
     cudnnConvolutionDescriptor_t, cudnnConvolutionBwdFilterAlgo_t, void*, size_t, const void*,                        \
     cudnnFilterDescriptor_t, void*))                                                                                  \
  X(cudnnDeriveBNTensorDescriptor, cudnnStatus_t,                                                                      \
    (cudnnTensorDescriptor_t, cudnnTensorDescriptor_t, cudnnBatchNormMode_t))                                          \
  X(cudnnBatchNormalizationForwardTraining, cudnnStatus_t,                                                             \
    (cudnnHandle_t, cudnnBatchNormMode_t, const void*, const void*, cudnnTensorDescriptor_t, const void*,              \
     cudnnTensorDescriptor_t, void*, cudnnTensorDescriptor_t, const void*, const void*, double, void*, void*, double,  \
     void*, void*))                                                                                                    \
  X(cudnnBatchNormalizationForwardInference, cudnnStatus_t,                                                            \
    (cudnnHandle_t, cudnnBatchNormMode_t, const void*, const void*, cudnnTensorDescriptor_t, const void*,              \
     cudnnTensorDescriptor_t, void*, cudnnTensorDescriptor_t, const void*, const void*, const void*, const void*,      \
     double))                                                                                                          \
  X(cudnnBatchNormalizationBackward, cudnnStatus_t,                                                                    \
    (cudnnHandle_t, cudnnBatchNormMode_t, const void*, const void*, const void*, const void*, cudnnTensorDescriptor_t, \
     const void*, cudnnTensorDescriptor_t, const void*, cudnnTensorDescriptor_t, void*, cudnnTensorDescriptor_t,       \
     const void*, void*, void*, double, const void*, const void*))

struct Api {
#define KEFER_DECLARE(name, ret, args) ret(*name) args = nullptr;
  KEFER_CUDNN_FUNCTIONS(KEFER_DECLARE)
#undef KEFER_DECLARE
};

#ifdef KEFER_HAVE_CUDNN_H
// The declarations above must be cudnn.h's, parameter for parameter.
#define KEFER_CHECK(name, ret, args) \
  static_assert(std::is_same<decltype(&::name), ret(*) args>::value, #name " is declared differently in cudnn.h");
KEFER_CUDNN_FUNCTIONS(KEFER_CHECK)
#undef KEFER_CHECK
static_assert(kStatusSuccess == CUDNN_STATUS_SUCCESS, "status");
static_assert(kDataFloat == CUDNN_DATA_FLOAT && kDataHalf == CUDNN_DATA_HALF, "data types");
static_assert(kTensorNchw == CUDNN_TENSOR_NCHW && kTensorNhwc == CUDNN_TENSOR_NHWC, "tensor formats");
static_assert(kCrossCorrelation == CUDNN_CROSS_CORRELATION, "convolution mode");
static_assert(kDefaultMath == CUDNN_DEFAULT_MATH && kTensorOpMath == CUDNN_TENSOR_OP_MATH && kFmaMath == CUDNN_FMA_MATH, "math types");
static_assert(kBatchNormSpatial == CUDNN_BATCHNORM_SPATIAL, "batchnorm mode");
static_assert(kDeterministic == CUDNN_DETERMINISTIC, "determinism");
static_assert(kCudnnMajor == CUDNN_MAJOR, "this addon is written against cuDNN 9");
#endif
}  // namespace kdnn
