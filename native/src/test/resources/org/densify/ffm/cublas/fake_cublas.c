/*
 * A fake libcublas for CublasTest: the same symbols and argument lists as cublas_api.h, but the
 * GEMMs run on HOST memory (column-major, as cuBLAS), so the test can pass host addresses as
 * "device" pointers and check the numbers. Handles are heap blocks carrying a magic word; the
 * fake_* functions let the test inspect and steer it. Compiled by the test with
 *   gcc -shared -fPIC -O1 -o libfakecublas.so fake_cublas.c   [-DFAKE_OMIT_STRIDED]
 */
#include <stdint.h>
#include <stdlib.h>

typedef int cublasStatus_t;
enum { SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7 };
enum { MAGIC = 0x0C0B1A5 };

typedef struct {
    int magic;
    int math_mode;
    void *stream;
} fake_handle;

static int live_handles;
static long calls;
static int fail_next; /* status the next call returns instead of working, 0 = none */

int fake_cublas_live_handles(void) { return live_handles; }
long fake_cublas_calls(void) { return calls; }
void fake_cublas_fail_next(int status) { fail_next = status; }
int fake_cublas_math_mode(void *h) { return ((fake_handle *) h)->math_mode; }
void *fake_cublas_stream(void *h) { return ((fake_handle *) h)->stream; }

/* Counts the call; returns the steered failure, if any. */
static int steered(void) {
    calls++;
    int s = fail_next;
    fail_next = 0;
    return s;
}

/* steered(), or NOT_INITIALIZED for a handle that is not ours. */
static int enter(fake_handle *h) {
    int s = steered();
    if (s) return s;
    return h != NULL && h->magic == MAGIC ? SUCCESS : NOT_INITIALIZED;
}

cublasStatus_t cublasCreate_v2(void **out) {
    int s = steered();
    if (s) return s;
    fake_handle *h = calloc(1, sizeof *h);
    h->magic = MAGIC;
    live_handles++;
    *out = h;
    return SUCCESS;
}

cublasStatus_t cublasDestroy_v2(void *handle) {
    fake_handle *h = handle;
    int s = enter(h);
    if (s) return s;
    h->magic = 0;
    free(h);
    live_handles--;
    return SUCCESS;
}

cublasStatus_t cublasSetStream_v2(void *handle, void *stream) {
    fake_handle *h = handle;
    int s = enter(h);
    if (s) return s;
    h->stream = stream;
    return SUCCESS;
}

cublasStatus_t cublasSetMathMode(void *handle, int mode) {
    fake_handle *h = handle;
    int s = enter(h);
    if (s) return s;
    if (mode != 0 && mode != 1 && mode != 2 && mode != 3) return INVALID_VALUE;
    h->math_mode = mode;
    return SUCCESS;
}

/* op(X)(i, j) of a column-major matrix with leading dimension ld. */
static float at(const float *x, int ld, int trans, int i, int j) {
    return trans ? x[j + (int64_t) i * ld] : x[i + (int64_t) j * ld];
}

static int gemm(int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
                const float *B, int ldb, const float *beta, float *C, int ldc) {
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0) return INVALID_VALUE;
    if (lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m || lda < 1 || ldb < 1 || ldc < 1) return INVALID_VALUE;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double sum = 0;
            for (int p = 0; p < k; p++) sum += (double) at(A, lda, ta, i, p) * at(B, ldb, tb, p, j);
            float *c = &C[i + (int64_t) j * ldc];
            /* beta == 0 ignores C, as cuBLAS does (C may hold NaN) */
            *c = (float) (*alpha * sum + (*beta == 0 ? 0.0 : (double) *beta * *c));
        }
    }
    return SUCCESS;
}

cublasStatus_t cublasSgemm_v2(void *handle, int transa, int transb, int m, int n, int k, const float *alpha,
                              const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc) {
    int s = enter(handle);
    if (s) return s;
    return gemm(transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

#ifndef FAKE_OMIT_STRIDED
cublasStatus_t cublasSgemmStridedBatched(void *handle, int transa, int transb, int m, int n, int k, const float *alpha,
                                         const float *A, int lda, long long strideA, const float *B, int ldb,
                                         long long strideB, const float *beta, float *C, int ldc, long long strideC,
                                         int batchCount) {
    int s = enter(handle);
    if (s) return s;
    if (batchCount < 0) return INVALID_VALUE;
    for (int b = 0; b < batchCount; b++) {
        s = gemm(transa, transb, m, n, k, alpha, A + b * strideA, lda, B + b * strideB, ldb, beta, C + b * strideC, ldc);
        if (s) return s;
    }
    return SUCCESS;
}
#endif
