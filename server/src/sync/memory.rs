//! Giving freed memory back to the operating system.
//!
//! glibc's allocator keeps memory freed in the middle of its heaps (arenas) for reuse, and
//! only returns the top of a heap on its own. After a burst of work (a client fetching a
//! thousand documents, which the engine then evicts), the server's resident memory stayed
//! near its peak: ~35 MiB instead of ~23. `malloc_trim(0)` hands every free page back. The
//! hub calls it once a burst of work is over and after it has evicted documents.
//!
//! glibc also raises its mmap threshold (from 128 KiB up to 32 MiB) each time a large block
//! it had mapped is freed, so that after a burst the next large buffers come from the heap
//! instead, and the small allocations that land between them keep heap pages that trimming
//! cannot return: workload 1 ended at 20.9–24.6 MiB from run to run with the dynamic
//! threshold and 20.3–20.9 with a fixed one (docs/BENCHMARKS.md). [`fix_mmap_threshold`]
//! fixes it at glibc's default, which also turns the dynamic adjustment off.

/// Returns the allocator's free pages to the OS. A no-op where the allocator is not glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn release_free_memory() {
    // SAFETY: `malloc_trim` takes a plain integer, touches only the allocator's own free
    // lists under its locks, and is safe to call from any thread at any time (glibc >= 2.8;
    // Debian 12 ships 2.36).
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns the allocator's free pages to the OS. A no-op where the allocator is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() {}

/// Blocks of at least this size are mapped on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Keeps glibc's mmap threshold at 128 KiB instead of letting it grow (see the module
/// documentation). Call it once at start-up, before the server's threads allocate. A no-op
/// where the allocator is not glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn fix_mmap_threshold() {
    // SAFETY: `mallopt` takes two plain integers and only sets a parameter of the allocator,
    // under its lock; M_MMAP_THRESHOLD with a value below its maximum (32 MiB on 64-bit) is
    // always accepted (glibc >= 2.0; Debian 12 ships 2.36).
    let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    if accepted != 1 {
        tracing::warn!("glibc refused to fix its mmap threshold; memory may stay higher");
    }
}

/// Keeps glibc's mmap threshold fixed. A no-op where the allocator is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fix_mmap_threshold() {}
