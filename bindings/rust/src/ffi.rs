//! The C ABI of include/hakmem.h that the crate uses, and the Rust mirror of
//! `struct hak_stats`.
//!
//! The statistics fields are declared once, in the `stats!` invocation at the
//! bottom: it makes both the `#[repr(C)]` struct that `hak_stats_get` fills
//! and the public [`Stats`], so the two cannot drift apart. New C fields are
//! appended (include/hakmem.h's ABI rule), and `hak_stats_get` fills only as
//! many bytes as it is given, so a crate built against an older header still
//! reads a correct prefix; the test `stats_struct_matches_c` tells when the
//! header has grown.

use core::ffi::{c_char, c_int, c_void};
use core::mem::{size_of, MaybeUninit};

extern "C" {
    pub fn hak_version() -> *const c_char;
    pub fn hak_alloc(size: usize, align: usize) -> *mut c_void;
    pub fn hak_alloc_zeroed(size: usize, align: usize) -> *mut c_void;
    pub fn hak_dealloc(ptr: *mut c_void, size: usize, align: usize);
    pub fn hak_realloc_layout(
        ptr: *mut c_void,
        old_size: usize,
        align: usize,
        new_size: usize,
    ) -> *mut c_void;
    pub fn hak_owns(ptr: *const c_void) -> c_int;
    pub fn hak_free_if_owned(ptr: *mut c_void) -> c_int;
    pub fn hak_collect() -> usize;
    pub fn hak_stats_get(out: *mut c_void, size: usize) -> c_int;

    // First-class heaps. A heap is a handle (`hak_heap_t *` in C), never
    // dereferenced: an opaque type keeps it apart from other pointers.
    pub fn hak_heap_new() -> *mut HakHeap;
    pub fn hak_heap_alloc(h: *mut HakHeap, size: usize, align: usize) -> *mut c_void;
    pub fn hak_heap_alloc_zeroed(h: *mut HakHeap, size: usize, align: usize) -> *mut c_void;
    pub fn hak_heap_realloc(
        h: *mut HakHeap,
        ptr: *mut c_void,
        old_size: usize,
        align: usize,
        new_size: usize,
    ) -> *mut c_void;
    pub fn hak_heap_dealloc(h: *mut HakHeap, ptr: *mut c_void, size: usize, align: usize);
    pub fn hak_heap_visit(
        h: *mut HakHeap,
        f: unsafe extern "C" fn(block: *mut c_void, usable: usize, arg: *mut c_void) -> c_int,
        arg: *mut c_void,
    ) -> c_int;
    pub fn hak_heap_collect(h: *mut HakHeap);
    pub fn hak_heap_stats(h: *mut HakHeap, out: *mut c_void, size: usize) -> c_int;
    pub fn hak_heap_destroy(h: *mut HakHeap);
}

/// `struct hak_heap`: only ever behind a pointer, and never read.
#[repr(C)]
pub struct HakHeap {
    _opaque: [u8; 0],
}

macro_rules! stats {
    ($( $(#[doc = $doc:literal])+ $field:ident, )+) => {
        /// `struct hak_stats`, byte for byte.
        #[repr(C)]
        struct RawStats {
            size: usize,
            version: u32,
            stats_enabled: u32,
            $( $field: u64, )+
        }

        /// A snapshot of hakmem's state, from [`stats()`](crate::stats) (the
        /// process) or [`Heap::stats`](crate::Heap::stats) (one heap): the
        /// fields of C's `struct hak_stats`.
        ///
        /// From [`stats()`](crate::stats), byte counts are process-wide (the
        /// heaps' blocks included) and `bytes_cached` counts the calling
        /// thread's cache exactly, other threads' as of their last refill or
        /// flush. A heap's snapshot fills only the fields its documentation
        /// names; the others are 0. Fields may be added in later versions, so
        /// the struct cannot be built outside this crate.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub struct Stats {
            /// Version of the C statistics struct (`HAK_STATS_VERSION`).
            pub version: u32,
            /// Whether the per-call counters were kept: the process started
            /// with `HAKMEM_STATS=1` or `HAKMEM_FREE_ROUTE_TRACE=1`.
            pub stats_enabled: bool,
            $( $(#[doc = $doc])+ pub $field: u64, )+
        }

        /// The process's statistics (`hak_stats_get`).
        pub fn stats() -> Stats {
            // SAFETY: hak_stats_get writes at most `size` bytes at `out`.
            unsafe { stats_from(|out, size| hak_stats_get(out, size)) }
        }

        /// Statistics filled by `get(out, size)`, a C function of
        /// `hak_stats_get`'s contract: 0 after filling at most `size` bytes
        /// of `out`.
        ///
        /// # Safety
        /// `get` must write no more than `size` bytes at `out`.
        pub unsafe fn stats_from(get: impl FnOnce(*mut c_void, usize) -> c_int) -> Stats {
            let mut raw = MaybeUninit::<RawStats>::zeroed();
            // raw is a zeroed RawStats (all fields are integers, so every
            // byte pattern is valid) and the size given is its own.
            let rc = get(raw.as_mut_ptr().cast(), size_of::<RawStats>());
            assert_eq!(rc, 0, "hakmem refused a statistics buffer of {} bytes", size_of::<RawStats>());
            // SAFETY: zero-initialised above, then filled by C.
            let raw = unsafe { raw.assume_init() };
            debug_assert_eq!(raw.size, size_of::<RawStats>());
            Stats {
                version: raw.version,
                stats_enabled: raw.stats_enabled != 0,
                $( $field: raw.$field, )+
            }
        }

        #[cfg(test)]
        const RUST_STATS_SIZE: usize = size_of::<RawStats>();
    };
}

stats! {
    /// Bytes in blocks handed out and not freed.
    bytes_in_use,
    /// Bytes on every thread's free lists: the caller's exactly, other
    /// threads' as of their last refill or flush.
    bytes_cached,
    /// Bytes committed: slab spans, SuperSlab headers and large mappings.
    bytes_committed,
    /// The highest `bytes_committed` so far.
    bytes_committed_peak,
    /// Mappings that hold memory (large blocks mapped one by one, tables);
    /// reserved space is `bytes_reserved`.
    bytes_mapped,
    /// SuperSlabs (2 MiB regions of slabs) in use.
    superslabs,
    /// Slabs (spans) carved.
    spans,
    /// Live large blocks (above 256 KiB, or aligned above 64 KiB).
    large_blocks,
    /// Bytes in live large blocks.
    large_bytes,
    /// Small-tier (up to 1 KiB) allocations, when `stats_enabled`.
    tiny_mallocs,
    /// Small-tier frees, when `stats_enabled`.
    tiny_frees,
    /// Medium-tier (up to 256 KiB) allocations, when `stats_enabled`.
    mid_mallocs,
    /// Medium-tier frees, when `stats_enabled`.
    mid_frees,
    /// Large-tier allocations.
    large_mallocs,
    /// Large-tier frees.
    large_frees,
    /// Frees pushed onto the thread's list, small tier (when `stats_enabled`).
    route_tiny_fast,
    /// Frees pushed onto the thread's list, medium tier (when `stats_enabled`).
    route_mid_fast,
    /// Slab frees that missed the fast path (should stay 0; when `stats_enabled`).
    route_slab_lookup,
    /// Of the fast frees, blocks last handed out to another thread (when `stats_enabled`).
    route_remote,
    /// Frees of large blocks (when `stats_enabled`).
    route_large,
    /// Frees of null (when `stats_enabled`).
    route_null,
    /// Refills of a thread's list from the central pool.
    refills,
    /// Flushes of a thread's list to the central pool.
    flushes,
    /// Mappings made by hakmem.
    os_maps,
    /// Mappings removed by hakmem.
    os_unmaps,
    /// Ranges purged (given back to the OS while staying mapped).
    os_purges,
    /// Address space reserved for later use (the arena, the large region):
    /// costs no memory until committed.
    bytes_reserved,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C core writes its own struct size into the first field when it is
    /// given a larger buffer: the mirror above must have the same size, else
    /// include/hakmem.h gained fields that the `stats!` list lacks.
    #[test]
    fn stats_struct_matches_c() {
        let mut buf = [0u64; 512];
        // SAFETY: a 4 KiB buffer, far larger than the struct, aligned for it.
        let rc = unsafe { hak_stats_get(buf.as_mut_ptr().cast(), size_of::<[u64; 512]>()) };
        assert_eq!(rc, 0);
        assert_eq!(
            buf[0] as usize, RUST_STATS_SIZE,
            "struct hak_stats changed: update the stats! list"
        );
        let version = buf[1].to_ne_bytes();
        let version = u32::from_ne_bytes([version[0], version[1], version[2], version[3]]);
        assert_eq!(version, 2, "HAK_STATS_VERSION");
    }

    /// A buffer too small for the first two fields is refused (the C
    /// contract the mirror relies on: it never writes past what it is given).
    #[test]
    fn stats_refuses_short_buffer() {
        let mut buf = [0u8; 4];
        // SAFETY: C checks the size before writing anything.
        let rc = unsafe { hak_stats_get(buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(rc, -1);
        assert_eq!(buf, [0u8; 4]);
    }
}
