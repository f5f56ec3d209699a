//! The hakmem allocator for Rust.
//!
//! hakmem is a general-purpose allocator written in C11 (this crate's build
//! script compiles it from the hakmem source tree; no other crate is needed).
//! Its layout API takes what a [`Layout`] carries, a size and an alignment, so
//! [`Hakmem`] passes Rust's requests through unchanged: any alignment is
//! served, and `realloc` keeps it.
//!
//! Make it the program's allocator with one line:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;
//!
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect();
//!     assert!(hakmem::owns(v.as_ptr().cast()));
//! }
//! ```
//!
//! Besides the allocator: [`Heap`] (a heap of its own, allocated into from
//! any thread and freed all at once when dropped), [`owns`] (is this pointer
//! hakmem's?), [`collect`] (give cached memory back to the OS now), [`stats`]
//! (a snapshot of the allocator's counters) and [`version`].
//!
//! The C core is the same one `libhakmem_api` is built from: it exports only
//! `hak_*` names, so it never replaces `malloc` for C code in the same
//! process. Its options (`HAKMEM_*` environment variables, see hakmem's
//! README) apply as they do in C.
// no_std: the allocator needs only core; the unit tests use std's harness.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::CStr;

mod ffi;
mod heap;

// The README's Rust examples run as doc tests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use ffi::Stats;
pub use heap::Heap;

/// The hakmem allocator, a zero-sized handle to the process-wide allocator.
///
/// Use it as the global allocator:
///
/// ```
/// #[global_allocator]
/// static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;
/// # fn main() {}
/// ```
///
/// or call it directly through [`GlobalAlloc`] (blocks from either use go
/// back through either: there is one allocator behind them).
///
/// Each method is one call into the C core: `alloc` and `dealloc` go to
/// `hak_alloc`/`hak_dealloc` with the layout's size and alignment,
/// `alloc_zeroed` to `hak_alloc_zeroed`, and `realloc` to
/// `hak_realloc_layout`, which keeps the layout's alignment when the block
/// moves. A request that cannot be met returns null.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hakmem;

unsafe impl GlobalAlloc for Hakmem {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ffi::hak_alloc(layout.size(), layout.align()).cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ffi::hak_alloc_zeroed(layout.size(), layout.align()).cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ffi::hak_dealloc(ptr.cast(), layout.size(), layout.align())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ffi::hak_realloc_layout(ptr.cast(), layout.size(), layout.align(), new_size).cast()
    }
}

/// Whether `ptr` points into memory hakmem handed out.
///
/// True for any address inside a slab of hakmem's small and medium tiers
/// (whether the block there is live or free) and for the start of a live
/// large block; false for null, for the stack, and for memory from any other
/// allocator (the system `malloc` included). Safe for any pointer value: it
/// is compared with hakmem's address ranges, never read through. O(1).
///
/// ```
/// #[global_allocator]
/// static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;
///
/// fn main() {
///     let b = Box::new(42u32);
///     assert!(hakmem::owns(&*b as *const u32 as *const u8));
///     let local = 7u32;
///     assert!(!hakmem::owns(&local as *const u32 as *const u8));
/// }
/// ```
#[inline]
pub fn owns(ptr: *const u8) -> bool {
    // SAFETY: hak_owns accepts any pointer value and does not dereference it
    // unless it lies in hakmem's own ranges.
    unsafe { ffi::hak_owns(ptr.cast()) != 0 }
}

/// Frees `ptr` if hakmem handed it out, in one call; returns whether it did.
///
/// For code that receives pointers from two allocators (C libraries that
/// used the system `malloc`, and hakmem) and must free each with its own:
/// `false` means the pointer is not hakmem's and the caller still owns it.
/// Null returns `false`. Faster than [`owns`] followed by a free.
///
/// # Safety
///
/// If `ptr` lies in hakmem's memory it must be the start of a live block that
/// hakmem handed out (from the global allocator or `hak_malloc`, not from a
/// [`Heap`]), not used again afterwards; a pointer into a block, or a block
/// freed already, aborts the process with a message, as `free` does.
///
/// ```
/// use std::alloc::{GlobalAlloc, Layout, System};
///
/// #[global_allocator]
/// static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;
///
/// fn main() {
///     let layout = Layout::from_size_align(64, 16).unwrap();
///     let mine = unsafe { GLOBAL.alloc(layout) };
///     let theirs = unsafe { System.alloc(layout) };
///     assert!(unsafe { hakmem::free_if_owned(mine) });
///     assert!(!unsafe { hakmem::free_if_owned(theirs) });
///     unsafe { System.dealloc(theirs, layout) };
/// }
/// ```
#[inline]
pub unsafe fn free_if_owned(ptr: *mut u8) -> bool {
    // SAFETY: the caller's contract above; hak_free_if_owned reads nothing
    // outside hakmem's own ranges.
    unsafe { ffi::hak_free_if_owned(ptr.cast()) != 0 }
}

/// Returns the memory hakmem keeps cached to the operating system now, and
/// the number of bytes released.
///
/// That is the calling thread's cache, empty slabs and SuperSlabs, and the
/// free resident memory of the large tier. Without this call hakmem returns
/// memory on its own (empty slabs beyond a budget at once, large free memory
/// after an idle time); call it after freeing a large part of what a program
/// used, for example between phases of a long-running service.
pub fn collect() -> usize {
    // SAFETY: no arguments; safe from any thread at any time.
    unsafe { ffi::hak_collect() }
}

/// A snapshot of hakmem's state: bytes in use, cached, committed and mapped,
/// counts of slabs and large blocks, slow-path events (see [`Stats`]).
///
/// The per-call counters (`tiny_mallocs`, `route_*`, ...) are kept only when
/// the process started with `HAKMEM_STATS=1` or `HAKMEM_FREE_ROUTE_TRACE=1`
/// ([`Stats::stats_enabled`] says whether they were); the rest always is.
pub fn stats() -> Stats {
    ffi::stats()
}

/// The version of the C core linked in, `"MAJOR.MINOR.PATCH"`.
pub fn version() -> &'static str {
    // SAFETY: hak_version returns a pointer to a static NUL-terminated
    // string, never null.
    let s = unsafe { CStr::from_ptr(ffi::hak_version()) };
    s.to_str().unwrap_or("(not UTF-8)")
}
