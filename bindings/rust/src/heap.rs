//! [`Heap`]: hakmem's first-class heaps (`hak_heap_*` in include/hakmem.h).
//!
//! A `Heap` owns its C handle: every method passes it to one C call, and
//! `Drop` is `hak_heap_destroy`, which frees every block still in the heap
//! at once. The handle is never used after that, because the methods borrow
//! the `Heap` and `Drop` consumes it; so the C core's aborts for a destroyed
//! or foreign handle cannot be reached from this module.

use core::alloc::Layout;
use core::ffi::{c_int, c_void};
use core::fmt;
use core::mem;
use core::ptr::NonNull;

use crate::ffi;
use crate::Stats;

/// A heap of its own: blocks allocated into it from any thread, and freed
/// all at once when the `Heap` is dropped.
///
/// Over hakmem's C heaps API (`hak_heap_new`, `hak_heap_alloc`, ...,
/// `hak_heap_destroy`). A heap's blocks are carved from spans that hold that
/// heap's blocks only, so dropping the heap returns its memory to the
/// operating system without visiting each block, and one heap's blocks
/// never sit between another's. Use one for a phase of work whose data dies
/// together (a request, a parse, a compiler pass), or to measure a
/// component's memory ([`Heap::stats`]).
///
/// ```
/// use std::alloc::Layout;
///
/// let heap = hakmem::Heap::new().expect("a heap");
/// let layout = Layout::array::<u64>(100).unwrap();
/// let p = heap.alloc(layout).expect("memory").cast::<u64>();
/// // SAFETY: p holds room for 100 u64, aligned for them, and is not shared.
/// let numbers = unsafe {
///     for i in 0..100 {
///         p.as_ptr().add(i).write(i as u64);
///     }
///     std::slice::from_raw_parts(p.as_ptr(), 100)
/// };
/// assert_eq!(numbers.iter().sum::<u64>(), 4950);
/// assert!(heap.stats().bytes_in_use >= 800);
/// drop(heap); // frees the block too: `numbers` may not be used from here
/// ```
///
/// **Threads.** `Heap` is `Send` and `Sync`: any thread may allocate into
/// it and free its blocks (share it with `Arc<Heap>` or a scoped thread's
/// borrow), as in C. Each thread keeps a cache of the heap's free small
/// blocks (up to 1 KiB), so allocating and freeing those usually takes no
/// lock.
///
/// **Zero-size layouts.** Unlike [`GlobalAlloc`](core::alloc::GlobalAlloc),
/// whose callers must not ask for zero bytes, `Heap::alloc` is safe for any
/// layout, so it defines the case: a zero-size layout gets a real, unique
/// block, the smallest hakmem makes at the alignment asked for (16 bytes up
/// to 16-byte alignment), as C's `hak_heap_alloc(h, 0, align)` does. It is freed like any other block (with
/// [`dealloc`](Heap::dealloc) and the same zero-size layout) or with the
/// heap. No dangling pointer is ever returned, so every pointer a `Heap`
/// hands out is a block that [`visit`](Heap::visit) and
/// [`owns`](crate::owns) see.
///
/// **Dropping frees every block.** Every pointer into the heap dangles once
/// the `Heap` is dropped. The borrow checker does not see raw pointers, so code
/// that wraps them (in a `Box`-like type, say) should borrow the `Heap` for
/// as long as it holds them.
pub struct Heap {
    handle: NonNull<ffi::HakHeap>,
}

// SAFETY: the C heaps API is thread-safe for every call this type makes:
// any thread may allocate into a heap and free its blocks (each thread
// through its own cache of the heap, the rest under the heap's lock), and
// destroy detaches every thread's cache. Nothing in `Heap` but the handle,
// which is only ever passed to C.
unsafe impl Send for Heap {}
// SAFETY: as for Send: every `&self` method is one thread-safe C call.
unsafe impl Sync for Heap {}

impl Heap {
    /// A new, empty heap; `None` if hakmem cannot make one (out of memory,
    /// or 65,535 heaps exist already).
    ///
    /// An empty heap costs a slot in hakmem's table of heaps and no memory
    /// of its own until its first allocation.
    pub fn new() -> Option<Heap> {
        // SAFETY: no arguments; returns a live heap's handle or null.
        let handle = unsafe { ffi::hak_heap_new() };
        NonNull::new(handle).map(|handle| Heap { handle })
    }

    #[inline]
    fn raw(&self) -> *mut ffi::HakHeap {
        self.handle.as_ptr()
    }

    /// A block of at least `layout.size()` bytes aligned to
    /// `layout.align()`, in this heap; `None` when memory cannot be had.
    ///
    /// Any alignment is served (above 64 KiB, or for a block above 256 KiB,
    /// the block is a mapping of its own, still counted in this heap). A
    /// zero-size layout gets a real block, the smallest at its alignment
    /// (see [`Heap`]). The block's content is unspecified.
    #[inline]
    pub fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: a live heap's handle; any size and power-of-two alignment
        // (Layout guarantees the latter) is a valid request.
        let p = unsafe { ffi::hak_heap_alloc(self.raw(), layout.size(), layout.align()) };
        NonNull::new(p.cast())
    }

    /// As [`alloc`](Heap::alloc), with the block's first `layout.size()`
    /// bytes set to zero.
    #[inline]
    pub fn alloc_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: as in alloc.
        let p = unsafe { ffi::hak_heap_alloc_zeroed(self.raw(), layout.size(), layout.align()) };
        NonNull::new(p.cast())
    }

    /// Frees a block of this heap now (without this call, it goes with the
    /// heap).
    ///
    /// Any thread may free any block of the heap. A block of another heap,
    /// or of hakmem's default heap, makes hakmem abort the process
    /// ("hakmem: hak_heap_dealloc(): block of another heap"), as does a
    /// double free that hakmem sees.
    ///
    /// # Safety
    ///
    /// `ptr` must be a block that [`alloc`](Heap::alloc),
    /// [`alloc_zeroed`](Heap::alloc_zeroed) or [`realloc`](Heap::realloc)
    /// of this same `Heap` returned and that has not been freed since, and
    /// `layout` the layout it was allocated with (after a `realloc`: the
    /// old alignment and the new size). The block must not be used after
    /// this call.
    #[inline]
    pub unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        ffi::hak_heap_dealloc(
            self.raw(),
            ptr.as_ptr().cast(),
            layout.size(),
            layout.align(),
        )
    }

    /// Resizes a block of this heap to `new_size` bytes, keeping its
    /// alignment `layout.align()` and its content up to the smaller of the
    /// two sizes; the block stays in this heap.
    ///
    /// Returns the block (moved or not), or `None` when the memory cannot
    /// be had or `new_size` rounded up to the alignment would exceed
    /// `isize::MAX`; then the old block is untouched and still allocated.
    /// A `new_size` of 0 gives the smallest block at the alignment, as a
    /// zero-size [`alloc`](Heap::alloc) does (it is not a free).
    ///
    /// # Safety
    ///
    /// `ptr` must be a live block of this heap allocated with `layout`, as
    /// for [`dealloc`](Heap::dealloc). On success, `ptr` must not be used
    /// again (use the returned block, whose layout is `layout.align()` and
    /// `new_size`); on `None` it stays valid.
    #[inline]
    pub unsafe fn realloc(
        &self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // The new layout must be one (GlobalAlloc's rule, checked here
        // rather than left to the caller).
        Layout::from_size_align(new_size, layout.align()).ok()?;
        let p = ffi::hak_heap_realloc(
            self.raw(),
            ptr.as_ptr().cast(),
            layout.size(),
            layout.align(),
            new_size,
        );
        NonNull::new(p.cast())
    }

    /// Returns this heap's free memory to the operating system now: the
    /// calling thread's cache of the heap, and the heap's spans that hold
    /// no live block.
    ///
    /// A heap gives emptied spans back on its own (keeping one per size
    /// class, for reuse); call this after freeing much of a long-lived
    /// heap. Dropping the heap returns all of its memory without it.
    pub fn collect(&self) {
        // SAFETY: a live heap's handle.
        unsafe { ffi::hak_heap_collect(self.raw()) }
    }

    /// A snapshot of this heap alone.
    ///
    /// Filled: `bytes_in_use` (its live blocks, small and large),
    /// `bytes_cached` (its free blocks on threads' caches: the caller's
    /// exactly, other threads' as of their last refill or flush),
    /// `bytes_committed` and `bytes_mapped` (its spans and large blocks),
    /// `bytes_committed_peak`, `spans`, `large_blocks`, `large_bytes`,
    /// `refills` and `flushes` (of threads' caches of this heap). The other
    /// fields, the per-call counters among them, are 0. The process-wide
    /// [`stats()`](crate::stats) counts the heap's blocks too.
    pub fn stats(&self) -> Stats {
        let h = self.raw();
        // SAFETY: a live heap's handle; hak_heap_stats writes at most
        // `size` bytes at `out` (hak_stats_get's contract).
        unsafe { ffi::stats_from(|out, size| ffi::hak_heap_stats(h, out.cast(), size)) }
    }

    /// Calls `f(block, usable)` on each live block of the heap, once each,
    /// until `f` returns `false`; returns `true` if every block was visited.
    ///
    /// `block` is the block's start and `usable` the bytes usable in it
    /// (its size class, at least the size asked for). The order is
    /// unspecified. Blocks freed into some thread's cache are free, not
    /// live; a new heap with no blocks calls `f` never.
    ///
    /// ```
    /// use std::alloc::Layout;
    ///
    /// let heap = hakmem::Heap::new().unwrap();
    /// let a = heap.alloc(Layout::from_size_align(100, 8).unwrap()).unwrap();
    /// let _b = heap.alloc(Layout::from_size_align(5000, 64).unwrap()).unwrap();
    /// let (mut blocks, mut bytes) = (0, 0);
    /// assert!(heap.visit(|_, usable| {
    ///     blocks += 1;
    ///     bytes += usable;
    ///     true
    /// }));
    /// assert_eq!(blocks, 2);
    /// assert!(bytes >= 5100);
    /// // Stops at the first `false`; finds a given block.
    /// assert!(!heap.visit(|p, _| p != a));
    /// ```
    ///
    /// The walk holds the heap's lock, so, inside `f`:
    ///
    /// - Do not use this heap: `collect`, `stats`, `visit`, and an
    ///   allocation or a free that needs the lock (one the thread's cache
    ///   cannot serve) abort the process ("hakmem: ... heap changed inside
    ///   its own hak_heap_visit callback"), and hakmem's own
    ///   [`collect()`](crate::collect) does too. Gather what to change, and
    ///   change it after `visit` returns.
    /// - Avoid creating, dropping or using other heaps: their locks, taken
    ///   under this one, can deadlock with another thread that does the
    ///   reverse. The global allocator (a `Vec` to gather blocks in, say) is
    ///   fine.
    /// - A panic cannot unwind through the C walk: it aborts the process.
    ///
    /// Other threads that allocate into the heap meanwhile wait for the
    /// lock, or take blocks from their caches, which the walk does not see.
    /// The pointers are for identifying blocks; reading one in `f` (unsafe)
    /// is sound only if no other thread frees or writes that block
    /// meanwhile, since the visit does not stop them.
    pub fn visit<F: FnMut(NonNull<u8>, usize) -> bool>(&self, mut f: F) -> bool {
        // SAFETY: a live heap's handle; the callback's argument is `f`,
        // borrowed for the whole call, and the callback's type is made for
        // it (visit_one::<F>).
        let rc = unsafe {
            ffi::hak_heap_visit(
                self.raw(),
                visit_one::<F>,
                (&mut f as *mut F).cast::<c_void>(),
            )
        };
        rc == 0
    }
}

/// Panics when dropped: kept alive across a call that may unwind, it turns
/// the unwind into a panic inside a panic, which aborts.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        panic!("hakmem::Heap::visit: the callback panicked; a panic cannot unwind through the heap walk (it holds the heap's lock)");
    }
}

/// hak_heap_visit's callback: `arg` is the `F` of [`Heap::visit`].
unsafe extern "C" fn visit_one<F: FnMut(NonNull<u8>, usize) -> bool>(
    block: *mut c_void,
    usable: usize,
    arg: *mut c_void,
) -> c_int {
    // Unwinding into C would leave the heap locked (and is undefined before
    // Rust 1.81, where an extern "C" function aborts instead).
    let guard = AbortOnUnwind;
    // SAFETY: arg is Heap::visit's `&mut f`, live and unaliased during the
    // walk; C passes each block's start, never null.
    let f = &mut *arg.cast::<F>();
    let go_on = f(NonNull::new_unchecked(block.cast()), usable);
    mem::forget(guard);
    c_int::from(!go_on)
}

impl Drop for Heap {
    /// Destroys the heap: every block still in it is freed at once, and its
    /// memory goes back to the operating system.
    fn drop(&mut self) {
        // SAFETY: a live heap's handle, used never again.
        unsafe { ffi::hak_heap_destroy(self.raw()) }
    }
}

impl fmt::Debug for Heap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap")
            .field("handle", &self.handle)
            .finish()
    }
}
