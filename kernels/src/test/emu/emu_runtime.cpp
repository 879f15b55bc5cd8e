// The emulator's runtime (see emu.h): fibers, barriers, warp shuffles, launches, guarded memory
// and a reference column-major sgemm with cuBLAS's argument rules. Included last into one
// translation unit after every kernel source and EMU_KERNEL_LIST (X(name) per kernel), generated
// by the Java test harness (EmulatedDevice).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace emu {

// ---- kernels and their argument signatures ---------------------------------------------------

template <typename T>
constexpr char code() {
    if constexpr (std::is_pointer_v<T>) return 'p';
    else if constexpr (std::is_same_v<T, int>) return 'i';
    else if constexpr (std::is_same_v<T, long long>) return 'l';
    else if constexpr (std::is_same_v<T, float>) return 'f';
    else if constexpr (std::is_same_v<T, double>) return 'd';
    else return '?';
}

template <typename... A>
std::string signature(void (*)(A...)) {
    return std::string{code<A>()...};
}

template <typename... A, size_t... I>
void call(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<A*>(args[I])...);
}

template <typename F>
struct arity;
template <typename... A>
struct arity<void (*)(A...)> {
    static constexpr size_t value = sizeof...(A);
};
template <auto F>
void run(void** args) {
    call(F, args, std::make_index_sequence<arity<decltype(F)>::value>{});
}

struct Kernel {
    const char* name;
    void (*run)(void**);
    std::string sig;
};

}  // namespace emu

#define X(name) emu::Kernel{#name, &emu::run<&name>, emu::signature(&name)},
static std::vector<emu::Kernel> kernels = {EMU_KERNEL_LIST};
#undef X

// ---- fibers ------------------------------------------------------------------------------------
// A context switch saves the callee-saved registers on the running stack, stores the stack
// pointer, loads the other one and pops its registers (no signal-mask syscall, unlike swapcontext).

#if !defined(__x86_64__)
#error "the CUDA emulator's context switch is written for x86-64"
#endif

extern "C" void emu_switch(void** save, void* load);
asm(R"(
    .text
    .globl emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");

namespace emu {

const size_t STACK_BYTES = 256 * 1024;
const int BLOCKED_FOREVER = -2;

struct Fiber {
    void* sp;
    uint3 idx;
    int linear;
    bool done;
    int waiting;  // barrier index, -1 when runnable, BLOCKED_FOREVER after a failure
    unsigned generation;
    int parity;
};

struct Barrier {
    int expected, arrived;
    unsigned generation;
};

std::vector<Fiber> fibers;
std::vector<char*> stacks;
std::vector<Barrier> barriers;  // [0] the block, [1 + w] warp w
std::vector<double> slots;      // warp shuffles: [warp][parity][lane]
std::vector<double> shared;     // dynamic shared memory (double-aligned)
void* scheduler;
int current;
void (*entry)(void**);
void** entryArgs;
uint64_t rng = 0x9e3779b97f4a7c15ull;
bool failed;
std::string failure;

uint64_t next_random() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

void fail(const char* format, ...) {
    if (!failed) {
        char buffer[512];
        va_list args;
        va_start(args, format);
        vsnprintf(buffer, sizeof buffer, format, args);
        va_end(args);
        failure = buffer;
        failed = true;
    }
    Fiber& f = fibers[current];
    f.waiting = BLOCKED_FOREVER;
    emu_switch(&f.sp, scheduler);  // never resumed
}

[[noreturn]] void fiber_main() {
    entry(entryArgs);
    fibers[current].done = true;
    emu_switch(&fibers[current].sp, scheduler);
    __builtin_unreachable();
}

// A fresh stack whose first switch "returns" into fiber_main with the ABI's alignment
// (rsp + 8 a multiple of 16 at function entry).
void* fresh_stack(char* stack) {
    uintptr_t top = ((uintptr_t)(stack + STACK_BYTES) & ~(uintptr_t)15) - 16;
    void** sp = (void**)top;
    sp[1] = nullptr;                       // above the return address: a null frame for debuggers
    sp[0] = (void*)&fiber_main;            // at a multiple of 16: after ret, rsp = top + 8
    sp -= 6;                               // r15 r14 r13 r12 rbx rbp
    for (int i = 0; i < 6; i++) sp[i] = nullptr;
    return sp;
}

void arrive(int b) {
    Barrier& bar = barriers[b];
    Fiber& f = fibers[current];
    f.waiting = b;
    f.generation = bar.generation;
    if (++bar.arrived == bar.expected) {
        bar.arrived = 0;
        bar.generation++;
    }
    emu_switch(&f.sp, scheduler);
}

template <typename T>
T shuffle_xor(unsigned mask, T v, int laneMask) {
    Fiber& f = fibers[current];
    int warp = f.linear / 32, lane = f.linear % 32;
    if (mask != 0xffffffffu) fail("__shfl_xor_sync with mask %x: the kernels use full warps only", mask);
    if (barriers[1 + warp].expected != 32) fail("__shfl_xor_sync in a partial warp (blockDim not a multiple of 32)");
    if (laneMask < 0 || laneMask > 31) fail("__shfl_xor_sync lane mask %d", laneMask);
    double* s = &slots[(warp * 2 + f.parity) * 32];
    f.parity ^= 1;  // alternating slots: one barrier per shuffle is enough
    std::memcpy(&s[lane], &v, sizeof(T));
    arrive(1 + warp);
    T out;
    std::memcpy(&out, &s[lane ^ laneMask], sizeof(T));
    return out;
}

bool run_block(int threads) {
    for (int i = 0; i < threads; i++) {
        Fiber& f = fibers[i];
        f.sp = fresh_stack(stacks[i]);
        f.linear = i;
        f.idx = {i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y)};
        f.done = false;
        f.waiting = -1;
        f.parity = 0;
    }
    int warps = (threads + 31) / 32;
    barriers.assign(1 + warps, Barrier{0, 0, 0});
    barriers[0].expected = threads;
    for (int w = 0; w < warps; w++) barriers[1 + w].expected = std::min(32, threads - 32 * w);
    slots.assign(warps * 64, 0.0);
    std::memset(shared.data(), 0xff, shared.size() * sizeof(double));  // NaN: unwritten shared memory shows up
    std::vector<int> order(threads);
    std::iota(order.begin(), order.end(), 0);
    while (true) {
        for (int i = threads - 1; i > 0; i--) std::swap(order[i], order[(uint32_t)(((next_random() >> 32) * (uint64_t)(i + 1)) >> 32)]);
        bool progressed = false, finished = true;
        for (int k : order) {
            Fiber& f = fibers[k];
            if (f.done) continue;
            finished = false;
            if (f.waiting == BLOCKED_FOREVER) continue;
            if (f.waiting >= 0 && barriers[f.waiting].generation == f.generation) continue;
            f.waiting = -1;
            current = k;
            threadIdx = f.idx;
            emu_switch(&scheduler, f.sp);
            progressed = true;
            if (failed) return false;
        }
        if (finished) return true;
        if (!progressed) {
            int done = 0, atBlock = 0;
            for (int i = 0; i < threads; i++) {
                if (fibers[i].done) done++;
                else if (fibers[i].waiting == 0) atBlock++;
            }
            failed = true;
            char buffer[256];
            snprintf(buffer, sizeof buffer,
                     "deadlock in block (%u,%u,%u): %d of %d threads finished, %d wait at __syncthreads, the rest at a warp shuffle",
                     blockIdx.x, blockIdx.y, blockIdx.z, done, threads, atBlock);
            failure = buffer;
            return false;
        }
    }
}

// ---- memory ----------------------------------------------------------------------------------

struct Mapping {
    char* base;
    size_t span;
    size_t bytes;
};
std::map<char*, Mapping> mappings;
long long allocated;
const long long TOTAL = 4LL << 30;

}  // namespace emu

void* emu_dynamic_shared() { return emu::shared.data(); }
void __syncthreads() { emu::arrive(0); }
float __shfl_xor_sync(unsigned mask, float v, int laneMask) { return emu::shuffle_xor(mask, v, laneMask); }
double __shfl_xor_sync(unsigned mask, double v, int laneMask) { return emu::shuffle_xor(mask, v, laneMask); }

extern "C" {

// Memory whose last byte sits right before an inaccessible page: an overrun faults at once
// instead of corrupting a neighbour. Filled with NaN (0xff bytes), as device memory is undefined.
void* emu_alloc(long long bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = ((size_t)bytes + 15) & ~(size_t)15;
    if (data == 0) data = 16;
    size_t span = (data + page - 1) / page * page;
    void* mapped = mmap(nullptr, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) return nullptr;
    char* base = static_cast<char*>(mapped);
    mprotect(base + span, page, PROT_NONE);
    char* p = base + span - data;
    std::memset(p, 0xff, data);
    emu::mappings[p] = {base, span + page, (size_t)bytes};
    emu::allocated += bytes;
    return p;
}

int emu_free(void* p) {
    auto it = emu::mappings.find(static_cast<char*>(p));
    if (it == emu::mappings.end()) return 1;
    emu::allocated -= (long long)it->second.bytes;
    munmap(it->second.base, it->second.span);
    emu::mappings.erase(it);
    return 0;
}

void emu_memory_info(long long* free, long long* total) {
    *free = emu::TOTAL - emu::allocated;
    *total = emu::TOTAL;
}

// Runs kernel `name` over the grid. sig: one letter per argument (p pointer, i int, l long long,
// f float, d double), checked against the kernel's parameters. Returns 0, or 1 with a message in err.
int emu_launch(const char* name, const char* sig, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned sharedBytes, void** args, char* err, int errLength) {
    using namespace emu;
    auto report = [&](const std::string& message) {
        snprintf(err, (size_t)errLength, "%s: %s", name, message.c_str());
        return 1;
    };
    const Kernel* kernel = nullptr;
    for (const Kernel& k : kernels) {
        if (std::strcmp(k.name, name) == 0) kernel = &k;
    }
    if (!kernel) return report("no such kernel");
    if (kernel->sig != sig) return report("takes (" + kernel->sig + ") but was launched with (" + sig + ")");
    long threads = (long)bx * by * bz;
    if (threads <= 0 || threads > 1024 || bz > 64) return report("bad block " + std::to_string(bx) + "x" + std::to_string(by) + "x" + std::to_string(bz));
    if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535) {
        return report("bad grid " + std::to_string(gx) + "x" + std::to_string(gy) + "x" + std::to_string(gz));
    }
    if (sharedBytes > 227 * 1024) return report("asks for " + std::to_string(sharedBytes) + " bytes of shared memory");
    while (stacks.size() < (size_t)threads) stacks.push_back(new char[STACK_BYTES]);
    fibers.resize((size_t)threads);
    shared.assign((sharedBytes + 7) / 8 + 1, 0.0);
    blockDim = {bx, by, bz};
    gridDim = {gx, gy, gz};
    entry = kernel->run;
    entryArgs = args;
    failed = false;
    for (unsigned z = 0; z < gz; z++) {
        for (unsigned y = 0; y < gy; y++) {
            for (unsigned x = 0; x < gx; x++) {
                blockIdx = {x, y, z};
                if (!run_block((int)threads)) {
                    return report(failure + " (block " + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + ")");
                }
            }
        }
    }
    return 0;
}

// cublasSgemm's contract, column-major: C = alpha op(A) op(B) + beta C, C [m, n]; C is not read
// when beta is 0. Returns cuBLAS's CUBLAS_STATUS_INVALID_VALUE (7) for arguments cuBLAS refuses.
int emu_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
              float* C, int ldc) {
    if (m < 0 || n < 0 || k < 0) return 7;
    if (lda < std::max(1, transA ? k : m) || ldb < std::max(1, transB ? n : k) || ldc < std::max(1, m)) return 7;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double sum = 0;
            for (int p = 0; p < k; p++) {
                double a = transA ? A[p + (long long)i * lda] : A[i + (long long)p * lda];
                double b = transB ? B[j + (long long)p * ldb] : B[p + (long long)j * ldb];
                sum += a * b;
            }
            float* c = &C[i + (long long)j * ldc];
            *c = beta == 0.0f ? (float)(alpha * sum) : (float)(alpha * sum + (double)beta * *c);
        }
    }
    return 0;
}

}  // extern "C"
