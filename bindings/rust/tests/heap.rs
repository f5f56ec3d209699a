//! hakmem::Heap. This program keeps Rust's default global allocator (the
//! system's), so hakmem's process-wide statistics count the heaps' memory
//! and little else, and a Heap is shown to need no `#[global_allocator]`.
//!
//! The tests that measure memory (process statistics, RSS) take LOCK for
//! writing; the others take it for reading, so none allocates meanwhile.

use hakmem::Heap;
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::{mpsc, Arc, RwLock};
use std::thread;

static LOCK: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    LOCK.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    LOCK.write().unwrap_or_else(|e| e.into_inner())
}

const MIB: usize = 1 << 20;

/// Every power of two from 1 to 2 MiB.
fn alignments() -> impl Iterator<Item = usize> {
    (0..=21).map(|s| 1usize << s)
}

/// Sizes around an alignment, and across hakmem's tiers (small up to 1 KiB,
/// medium up to 256 KiB, large above).
fn sizes_for(align: usize) -> Vec<usize> {
    vec![1, 24, 100, align, align + 1, 3 * align - 1, 5000, 300_000]
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// A byte pattern that depends on the seed and the offset, so a block that
/// overlaps another or lost its content shows.
fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) % 251) as u8
}

fn fill(p: NonNull<u8>, len: usize, seed: usize) {
    for i in 0..len {
        unsafe { p.as_ptr().add(i).write(pattern(seed, i)) };
    }
}

fn check(p: NonNull<u8>, len: usize, seed: usize) {
    for i in 0..len {
        let b = unsafe { p.as_ptr().add(i).read() };
        assert_eq!(b, pattern(seed, i), "byte {i} of block {p:?} (seed {seed})");
    }
}

/// (live blocks, their usable bytes), by visit.
fn live(heap: &Heap) -> (usize, usize) {
    let (mut n, mut bytes) = (0, 0);
    assert!(heap.visit(|_, usable| {
        n += 1;
        bytes += usable;
        true
    }));
    (n, bytes)
}

/// Resident memory of the process now, from /proc/self/statm.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn heap_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Heap>();
    send_sync::<Arc<Heap>>();
}

#[test]
fn alloc_and_dealloc() {
    let _g = shared();
    let heap = Heap::new().expect("Heap::new");
    assert_eq!(live(&heap), (0, 0));
    let sizes = [
        1usize,
        8,
        16,
        100,
        1024,
        1025,
        5000,
        70_000,
        300_000,
        3 * MIB,
    ];
    let blocks: Vec<(NonNull<u8>, Layout)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let l = layout(size, 8);
            let p = heap.alloc(l).expect("alloc");
            assert!(hakmem::owns(p.as_ptr()), "block of {size} not hakmem's");
            fill(p, size, i);
            (p, l)
        })
        .collect();
    // All live at once: no block overwrote another.
    for (i, &(p, l)) in blocks.iter().enumerate() {
        check(p, l.size(), i);
    }
    let total: usize = sizes.iter().sum();
    let s = heap.stats();
    assert!(s.bytes_in_use >= total as u64, "{s:?}");
    assert!(s.bytes_committed >= s.bytes_in_use, "{s:?}");
    assert_eq!(s.large_blocks, 2, "300 KB and 3 MiB are large: {s:?}");
    assert!(s.spans >= 1, "{s:?}");
    let (n, bytes) = live(&heap);
    assert_eq!(n, sizes.len());
    assert!(bytes >= total);
    for &(p, l) in &blocks {
        unsafe { heap.dealloc(p, l) };
    }
    assert_eq!(live(&heap), (0, 0));
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "all freed: {s:?}");
    assert_eq!((s.large_blocks, s.large_bytes), (0, 0), "{s:?}");
    // The per-call counters are the process's only.
    assert_eq!((s.tiny_mallocs, s.route_tiny_fast), (0, 0));
    heap.collect();
    assert_eq!(
        heap.stats().bytes_cached,
        0,
        "collect emptied this thread's cache"
    );
}

#[test]
fn alloc_zeroed_is_zero_even_when_reused() {
    let _g = shared();
    let heap = Heap::new().unwrap();
    for align in alignments() {
        for size in sizes_for(align) {
            let l = layout(size, align);
            // Dirty blocks of this layout first, so that the zeroed ones may
            // be the same memory coming back.
            let dirty: Vec<NonNull<u8>> = (0..4)
                .map(|_| {
                    let p = heap.alloc(l).unwrap();
                    unsafe { p.as_ptr().write_bytes(0xA5, size) };
                    p
                })
                .collect();
            for p in dirty {
                unsafe { heap.dealloc(p, l) };
            }
            let p = heap.alloc_zeroed(l).unwrap();
            assert_eq!(p.as_ptr() as usize % align, 0);
            let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
            assert!(
                bytes.iter().all(|&b| b == 0),
                "alloc_zeroed({size}, {align}) not zero"
            );
            unsafe { heap.dealloc(p, l) };
        }
    }
    assert_eq!(live(&heap).0, 0);
}

#[test]
fn realloc_keeps_content_and_alignment() {
    let _g = shared();
    let heap = Heap::new().unwrap();
    // Grows and shrinks across the tiers: small, medium, large, then back.
    let steps = [
        24usize,
        100,
        1500,
        70_000,
        300_000,
        5 * MIB,
        200_000,
        3000,
        10,
    ];
    for align in alignments() {
        let mut l = layout(16, align);
        let mut p = heap.alloc(l).unwrap();
        fill(p, 16, align);
        let mut valid = 16;
        for &new_size in &steps {
            let q = unsafe { heap.realloc(p, l, new_size) }
                .unwrap_or_else(|| panic!("realloc to {new_size} at align {align} failed"));
            assert_eq!(
                q.as_ptr() as usize % align,
                0,
                "realloc({new_size}) lost alignment {align}: {q:?}"
            );
            valid = valid.min(new_size);
            check(q, valid, align);
            // The block stays in the heap, and the old one is gone from it.
            assert_eq!(live(&heap).0, 1, "align {align}, size {new_size}");
            // Refill the whole new block, so that the next step checks all of it.
            fill(q, new_size, align);
            valid = new_size;
            p = q;
            l = layout(new_size, align);
        }
        unsafe { heap.dealloc(p, l) };
    }
    assert_eq!(live(&heap).0, 0);

    // A failed realloc leaves the block as it was.
    let l = layout(64, 64);
    let p = heap.alloc(l).unwrap();
    fill(p, 64, 1);
    assert!(unsafe { heap.realloc(p, l, isize::MAX as usize - 4095) }.is_none());
    assert!(unsafe { heap.realloc(p, l, usize::MAX) }.is_none());
    check(p, 64, 1);
    unsafe { heap.dealloc(p, l) };
}

#[test]
fn every_alignment_from_1_to_2_mib() {
    let _g = shared();
    let heap = Heap::new().unwrap();
    let mut blocks = Vec::new();
    for align in alignments() {
        for size in sizes_for(align) {
            let l = layout(size, align);
            let p = heap
                .alloc(l)
                .unwrap_or_else(|| panic!("alloc({size}, {align}) failed"));
            assert_eq!(
                p.as_ptr() as usize % align,
                0,
                "alloc({size}, {align}) = {p:?}"
            );
            assert!(hakmem::owns(p.as_ptr()));
            fill(p, size, size ^ align);
            blocks.push((p, l));
        }
    }
    // Every block kept its content beside all the others, and the heap
    // holds each once.
    for &(p, l) in &blocks {
        check(p, l.size(), l.size() ^ l.align());
    }
    let mut seen = Vec::new();
    assert!(heap.visit(|p, usable| {
        seen.push((p, usable));
        true
    }));
    assert_eq!(seen.len(), blocks.len());
    for &(p, l) in &blocks {
        let usable = seen
            .iter()
            .find(|&&(q, _)| q == p)
            .unwrap_or_else(|| panic!("visit missed {p:?} ({l:?})"))
            .1;
        assert!(usable >= l.size(), "{p:?}: usable {usable} < {}", l.size());
    }
    // Half freed one by one, the rest with the heap.
    for &(p, l) in blocks.iter().step_by(2) {
        unsafe { heap.dealloc(p, l) };
    }
    assert_eq!(live(&heap).0, blocks.len() / 2);
}

#[test]
fn zero_size_layouts_get_real_blocks() {
    let _g = shared();
    let heap = Heap::new().unwrap();
    let mut blocks = Vec::new();
    for align in [1usize, 16, 4096, 1 << 20] {
        let l = layout(0, align);
        let p = heap.alloc(l).unwrap();
        let z = heap.alloc_zeroed(l).unwrap();
        assert_ne!(p, z, "two zero-size blocks are one");
        for q in [p, z] {
            assert_eq!(q.as_ptr() as usize % align, 0);
            assert!(hakmem::owns(q.as_ptr()));
            blocks.push((q, l));
        }
    }
    // The smallest block: 16 bytes at alignments up to 16.
    assert!(heap.visit(|p, usable| {
        let l = blocks.iter().find(|b| b.0 == p).unwrap().1;
        l.align() > 16 || usable == 16
    }));
    assert_eq!(live(&heap).0, blocks.len());
    // realloc to 0 gives a block too (not a free); and from 0 to more.
    let (p, l) = blocks.pop().unwrap();
    let q = unsafe { heap.realloc(p, l, 100) }.unwrap();
    fill(q, 100, 3);
    let r = unsafe { heap.realloc(q, layout(100, l.align()), 0) }.unwrap();
    assert_eq!(r.as_ptr() as usize % l.align(), 0);
    blocks.push((r, l));
    assert_eq!(live(&heap).0, blocks.len());
    for (p, l) in blocks {
        unsafe { heap.dealloc(p, l) };
    }
    assert_eq!(live(&heap).0, 0);
}

/// A block pointer sent to another thread (the heap is shared; the block
/// goes with its owner).
struct Block(NonNull<u8>, usize, usize);
unsafe impl Send for Block {}

#[test]
fn threads_share_one_heap() {
    let _g = shared();
    const THREADS: usize = 6;
    const ROUNDS: usize = 300;
    let heap = Arc::new(Heap::new().unwrap());
    let (tx, rx) = mpsc::channel::<Block>();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let heap = Arc::clone(&heap);
            let tx = tx.clone();
            thread::spawn(move || {
                let mut kept = Vec::new();
                for r in 0..ROUNDS {
                    for i in 0..20 {
                        let seed = (t * ROUNDS + r) * 20 + i;
                        // Mostly small, some medium, a few large.
                        let len = match seed % 50 {
                            0 => 300_000 + seed % 1000,
                            1..=5 => 2000 + seed % 30_000,
                            _ => 1 + seed % 700,
                        };
                        let align = 1 << (seed % 8);
                        let p = heap.alloc(layout(len, align)).unwrap();
                        assert_eq!(p.as_ptr() as usize % align, 0);
                        fill(p, len, seed);
                        match seed % 3 {
                            // Freed by the main thread.
                            0 => tx.send(Block(p, len, seed)).unwrap(),
                            // Freed here.
                            1 => {
                                check(p, len, seed);
                                unsafe { heap.dealloc(p, layout(len, align)) };
                            }
                            // Left in the heap.
                            _ => kept.push(Block(p, len, seed)),
                        }
                    }
                }
                kept
            })
        })
        .collect();
    drop(tx);
    let mut received = 0;
    for Block(p, len, seed) in rx {
        check(p, len, seed);
        unsafe { heap.dealloc(p, layout(len, 1 << (seed % 8))) };
        received += 1;
    }
    let kept: Vec<Block> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let total = THREADS * ROUNDS * 20;
    assert_eq!(received, (0..total).filter(|s| s % 3 == 0).count());
    // What the threads kept is intact after all that traffic, and is all
    // the heap holds (the workers' caches went back when they exited).
    for Block(p, len, seed) in &kept {
        check(*p, *len, *seed);
    }
    assert_eq!(live(&heap).0, kept.len());
    let bytes: usize = kept.iter().map(|b| b.1).sum();
    assert!(heap.stats().bytes_in_use >= bytes as u64);
    // The last Arc drops the heap and the kept blocks with it.
    drop(kept);
    assert_eq!(Arc::strong_count(&heap), 1);
}

#[test]
fn drop_returns_the_memory() {
    let _g = exclusive();
    hakmem::collect();
    let before = hakmem::stats();
    let rss_before = rss_bytes();
    let heap = Heap::new().unwrap();
    // 400,000 small blocks (about 40 MiB) and 20 large ones of 1 MiB, all
    // written to, none freed.
    for i in 0..400_000usize {
        let n = 16 + (i % 13) * 8;
        let p = heap.alloc(layout(n, 16)).unwrap();
        unsafe {
            p.as_ptr().write(1);
            p.as_ptr().add(n - 1).write(2);
        }
    }
    for _ in 0..20 {
        let p = heap.alloc(layout(MIB, 16)).unwrap();
        unsafe { p.as_ptr().write_bytes(1, MIB) };
    }
    let during = hakmem::stats();
    let heap_stats = heap.stats();
    let rss_during = rss_bytes();
    assert!(
        heap_stats.bytes_in_use >= (40 * MIB) as u64,
        "{heap_stats:?}"
    );
    assert!(
        during.bytes_in_use >= before.bytes_in_use + (40 * MIB) as u64,
        "process bytes_in_use {} -> {}",
        before.bytes_in_use,
        during.bytes_in_use
    );
    assert!(rss_during >= rss_before + 40 * MIB);
    drop(heap);
    let after = hakmem::stats();
    let rss_after = rss_bytes();
    assert!(
        after.bytes_in_use <= before.bytes_in_use + MIB as u64,
        "process bytes_in_use {} -> {} -> {} after the drop",
        before.bytes_in_use,
        during.bytes_in_use,
        after.bytes_in_use
    );
    assert_eq!(after.large_blocks, before.large_blocks);
    assert!(
        rss_after <= rss_before + 2 * MIB,
        "RSS {} KiB -> {} KiB -> {} KiB after the drop",
        rss_before >> 10,
        rss_during >> 10,
        rss_after >> 10
    );
}

#[test]
fn many_heaps_at_once() {
    let _g = shared();
    let heaps: Vec<Heap> = (0..2000).map(|_| Heap::new().unwrap()).collect();
    let blocks: Vec<NonNull<u8>> = heaps
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let p = h.alloc(layout(100, 8)).unwrap();
            fill(p, 100, i);
            p
        })
        .collect();
    // Each heap holds its own block only.
    for (i, (h, &p)) in heaps.iter().zip(&blocks).enumerate() {
        check(p, 100, i);
        let mut only = None;
        assert!(h.visit(|q, _| only.replace(q).is_none()));
        assert_eq!(only, Some(p));
    }
}

#[test]
fn visit_stops_at_false() {
    let _g = shared();
    let heap = Heap::new().unwrap();
    let mut calls = 0;
    assert!(heap.visit(|_, _| {
        calls += 1;
        true
    }));
    assert_eq!(calls, 0, "an empty heap has no blocks to visit");
    let l = layout(48, 16);
    let blocks: Vec<NonNull<u8>> = (0..10).map(|_| heap.alloc(l).unwrap()).collect();
    let mut calls = 0;
    assert!(!heap.visit(|_, _| {
        calls += 1;
        calls < 3
    }));
    assert_eq!(calls, 3);
    // Usable sizes are at least what was asked for.
    assert!(heap.visit(|_, usable| usable >= 48));
    for p in blocks {
        unsafe { heap.dealloc(p, l) };
    }
}

/// A heap's block is an ordinary hakmem block besides: the process-wide
/// dealloc (hak_dealloc, as `Hakmem` calls it) frees it from its heap.
#[test]
fn a_heap_block_freed_through_hakmem() {
    use std::alloc::GlobalAlloc;
    let _g = shared();
    let heap = Heap::new().unwrap();
    let l = layout(200, 16);
    let p = heap.alloc(l).unwrap();
    let big = layout(400_000, 4096);
    let q = heap.alloc(big).unwrap();
    assert_eq!(live(&heap).0, 2);
    unsafe {
        hakmem::Hakmem.dealloc(p.as_ptr(), l);
        hakmem::Hakmem.dealloc(q.as_ptr(), big);
    }
    assert_eq!(live(&heap).0, 0);
}
