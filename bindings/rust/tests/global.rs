//! hakmem as this test program's global allocator: every allocation of the
//! program, the test harness's included, goes through `Hakmem`.

use hakmem::Hakmem;
use std::alloc::{self, GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::mpsc;
use std::thread;

#[global_allocator]
static GLOBAL: Hakmem = Hakmem;

/// Every power of two from 1 to 2 MiB.
fn alignments() -> impl Iterator<Item = usize> {
    (0..=21).map(|s| 1usize << s)
}

/// Sizes around an alignment, and across hakmem's tiers.
fn sizes_for(align: usize) -> Vec<usize> {
    let mut v = vec![
        1,
        8,
        24,
        100,
        align,
        align + 1,
        3 * align - 1,
        5000,
        300_000,
    ];
    v.retain(|&s| s > 0);
    v
}

/// A byte pattern that depends on the block and the offset, so a block that
/// overlaps another or lost its content shows.
fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) % 251) as u8
}

fn fill(p: *mut u8, len: usize, seed: usize) {
    for i in 0..len {
        unsafe { p.add(i).write(pattern(seed, i)) };
    }
}

fn check(p: *const u8, len: usize, seed: usize) {
    for i in 0..len {
        let b = unsafe { p.add(i).read() };
        assert_eq!(b, pattern(seed, i), "byte {i} of block {p:?} (seed {seed})");
    }
}

#[test]
fn collections_live_in_hakmem() {
    let v: Vec<u64> = (0..10_000).collect();
    assert!(
        hakmem::owns(v.as_ptr().cast()),
        "Vec buffer not from hakmem"
    );
    assert_eq!(v.iter().sum::<u64>(), 10_000 * 9_999 / 2);

    let mut s = String::new();
    for i in 0..2000 {
        s.push_str(&i.to_string());
    }
    assert!(hakmem::owns(s.as_ptr()));
    assert!(s.starts_with("0123456789101112"));

    let mut m: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..5000u32 {
        m.insert(format!("key-{i}"), (0..i % 17).collect());
    }
    for i in (0..5000u32).step_by(2) {
        assert_eq!(
            m.remove(&format!("key-{i}")).map(|v| v.len()),
            Some((i % 17) as usize)
        );
    }
    assert_eq!(m.len(), 2500);
    for (k, v) in &m {
        assert!(hakmem::owns(k.as_ptr()));
        let i: u32 = k[4..].parse().unwrap();
        assert_eq!(v.len(), (i % 17) as usize);
    }

    let mut b: BTreeMap<u64, String> = BTreeMap::new();
    for i in 0..20_000u64 {
        b.insert(i * 7919 % 20_011, i.to_string());
    }
    b.retain(|k, _| k % 3 != 0);
    assert!(b
        .iter()
        .all(|(k, v)| k % 3 != 0 && v.parse::<u64>().unwrap() * 7919 % 20_011 == *k));

    let mut d: VecDeque<Box<[u8]>> = VecDeque::new();
    for i in 0..3000usize {
        d.push_back(vec![(i % 256) as u8; i % 700 + 1].into_boxed_slice());
        if i % 3 == 0 {
            d.pop_front();
        }
    }
    assert!(d
        .iter()
        .all(|x| hakmem::owns(x.as_ptr()) && x.iter().all(|&c| c == x[0])));

    let set: HashSet<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
    assert_eq!(set.len(), 1000);
}

#[test]
fn box_and_large_buffers_are_hakmem_s() {
    let b = Box::new([7u8; 100]);
    assert!(hakmem::owns(b.as_ptr()));
    // Large tier (above 256 KiB) and beyond a SuperSlab.
    for len in [300_000usize, 3 << 20, 40 << 20] {
        let mut v = vec![0u8; len];
        assert!(
            hakmem::owns(v.as_ptr()),
            "{len}-byte buffer not from hakmem"
        );
        v[len - 1] = 1;
        v[0] = 2;
        assert_eq!(v.iter().map(|&x| x as usize).sum::<usize>(), 3);
    }
}

#[test]
fn threads_allocate_and_free_each_other_s_blocks() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    let (tx, rx) = mpsc::channel::<(usize, Vec<Box<[u8]>>)>();
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut local: Vec<String> = Vec::new();
                for r in 0..ROUNDS {
                    let seed = t * ROUNDS + r;
                    let batch: Vec<Box<[u8]>> = (0..50)
                        .map(|i| {
                            let len = (seed * 13 + i * 37) % 2000 + 1;
                            let b: Box<[u8]> = (0..len).map(|j| pattern(seed + i, j)).collect();
                            assert!(hakmem::owns(b.as_ptr()));
                            b
                        })
                        .collect();
                    tx.send((seed, batch)).unwrap();
                    // Thread-local churn beside the cross-thread traffic.
                    local.push(format!("{t}:{r}"));
                    if local.len() > 64 {
                        local.drain(..32);
                    }
                }
                local.len()
            })
        })
        .collect();
    drop(tx);
    // The consumer checks every block and frees it on this thread.
    let mut received = 0;
    for (seed, batch) in rx {
        for (i, b) in batch.iter().enumerate() {
            check(b.as_ptr(), b.len(), seed + i);
        }
        received += 1;
    }
    for p in producers {
        assert!(p.join().unwrap() <= 64);
    }
    assert_eq!(received, THREADS * ROUNDS);
}

#[test]
fn every_alignment_from_1_to_2_mib() {
    for align in alignments() {
        for size in sizes_for(align) {
            let layout = Layout::from_size_align(size, align).unwrap();
            // Through the global allocator (std::alloc) and through Hakmem itself.
            for direct in [false, true] {
                let p = unsafe {
                    if direct {
                        Hakmem.alloc(layout)
                    } else {
                        alloc::alloc(layout)
                    }
                };
                assert!(!p.is_null(), "alloc({size}, {align}) failed");
                assert_eq!(p as usize % align, 0, "alloc({size}, {align}) = {p:?}");
                assert!(hakmem::owns(p));
                fill(p, size, size ^ align);
                check(p, size, size ^ align);
                unsafe {
                    if direct {
                        Hakmem.dealloc(p, layout)
                    } else {
                        alloc::dealloc(p, layout)
                    }
                };
            }
        }
    }
}

#[test]
fn realloc_keeps_alignment_and_content() {
    // Grows and shrinks across the tiers: small, medium, large, then back.
    let steps = [
        24usize,
        100,
        1500,
        70_000,
        300_000,
        5 << 20,
        200_000,
        3000,
        10,
    ];
    for align in alignments() {
        let mut layout = Layout::from_size_align(16, align).unwrap();
        let mut p = unsafe { alloc::alloc(layout) };
        assert!(!p.is_null());
        fill(p, 16, align);
        let mut valid = 16;
        for &new_size in &steps {
            let q = unsafe { alloc::realloc(p, layout, new_size) };
            assert!(
                !q.is_null(),
                "realloc to {new_size} at align {align} failed"
            );
            assert_eq!(
                q as usize % align,
                0,
                "realloc({new_size}) lost alignment {align}: {q:?}"
            );
            valid = valid.min(new_size);
            check(q, valid, align);
            // Refill the whole new block so that the next step checks all of it.
            fill(q, new_size, align);
            valid = new_size;
            p = q;
            layout = Layout::from_size_align(new_size, align).unwrap();
        }
        unsafe { alloc::dealloc(p, layout) };
    }
}

#[test]
fn vec_growth_keeps_content() {
    // Vec's growth is realloc; over-aligned elements make it keep alignment.
    #[repr(align(4096))]
    #[derive(Clone, Copy)]
    struct Page(u64);
    let mut v: Vec<Page> = Vec::new();
    for i in 0..600u64 {
        v.push(Page(i));
        assert_eq!(v.as_ptr() as usize % 4096, 0);
    }
    assert!(v.iter().enumerate().all(|(i, p)| p.0 == i as u64));
    v.truncate(3);
    v.shrink_to_fit();
    assert_eq!(v.as_ptr() as usize % 4096, 0);
    assert_eq!(v.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn zeroed_memory_is_zero_even_when_reused() {
    for align in alignments() {
        for size in sizes_for(align) {
            let layout = Layout::from_size_align(size, align).unwrap();
            // Dirty blocks of this layout first, so the zeroed ones may be
            // the same memory coming back.
            let dirty: Vec<*mut u8> = (0..4)
                .map(|_| unsafe {
                    let p = alloc::alloc(layout);
                    assert!(!p.is_null());
                    p.write_bytes(0xA5, size);
                    p
                })
                .collect();
            for p in dirty {
                unsafe { alloc::dealloc(p, layout) };
            }
            for direct in [false, true] {
                let p = unsafe {
                    if direct {
                        Hakmem.alloc_zeroed(layout)
                    } else {
                        alloc::alloc_zeroed(layout)
                    }
                };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                assert!(
                    bytes.iter().all(|&b| b == 0),
                    "alloc_zeroed({size}, {align}) not zero"
                );
                unsafe { alloc::dealloc(p, layout) };
            }
        }
    }
    let v = vec![0u64; 1 << 20];
    assert!(v.iter().all(|&x| x == 0));
}

#[test]
fn owns_tells_hakmem_memory_from_the_rest() {
    let b = Box::new(5u64);
    let bp: *const u8 = (&*b as *const u64).cast();
    assert!(hakmem::owns(bp));
    // Inside a slab, not at a block start: still hakmem's.
    let v = Box::new([1u8; 200]);
    assert!(hakmem::owns(unsafe { v.as_ptr().add(100) }));
    let on_stack = 3u64;
    assert!(!hakmem::owns((&on_stack as *const u64).cast()));
    assert!(!hakmem::owns(std::ptr::null()));
    static IN_DATA: u64 = 9;
    assert!(!hakmem::owns((&IN_DATA as *const u64).cast()));
    // Memory from the system allocator (glibc's malloc) is not hakmem's.
    for size in [16usize, 1000, 1 << 20] {
        let layout = Layout::from_size_align(size, 16).unwrap();
        let p = unsafe { System.alloc(layout) };
        assert!(!p.is_null());
        assert!(
            !hakmem::owns(p),
            "System block of {size} bytes claimed by hakmem"
        );
        unsafe { System.dealloc(p, layout) };
    }
}

#[test]
fn free_if_owned_frees_hakmem_blocks_only() {
    // A block of each tier: small, medium, large.
    for size in [24usize, 5000, 3 << 20] {
        let layout = Layout::from_size_align(size, 16).unwrap();
        let p = unsafe { Hakmem.alloc(layout) };
        assert!(!p.is_null());
        fill(p, size.min(4096), 3);
        assert!(
            unsafe { hakmem::free_if_owned(p) },
            "hakmem block of {size} bytes not freed"
        );
        if size < 1 << 20 {
            // Freed onto this thread's list, so the next block of its class
            // is this one (other tests' threads have lists of their own).
            let again = unsafe { Hakmem.alloc(layout) };
            assert_eq!(again, p, "block of {size} bytes not freed");
            unsafe { Hakmem.dealloc(again, layout) };
        } else {
            // A large block's start is hakmem's only while it lives.
            assert!(
                !hakmem::owns(p),
                "large block still live after free_if_owned"
            );
        }
        // The system allocator's block is left alone, and still usable.
        let q = unsafe { System.alloc(layout) };
        assert!(!q.is_null());
        fill(q, size.min(4096), 4);
        assert!(!unsafe { hakmem::free_if_owned(q) });
        check(q, size.min(4096), 4);
        unsafe { System.dealloc(q, layout) };
    }
    assert!(!unsafe { hakmem::free_if_owned(std::ptr::null_mut()) });
}

#[test]
fn oversized_requests_return_null() {
    let layout = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
    assert!(unsafe { Hakmem.alloc(layout) }.is_null());
    assert!(unsafe { Hakmem.alloc_zeroed(layout) }.is_null());
    let small = Layout::from_size_align(64, 64).unwrap();
    let p = unsafe { Hakmem.alloc(small) };
    assert!(!p.is_null());
    fill(p, 64, 1);
    // A failed realloc leaves the block as it was.
    assert!(unsafe { Hakmem.realloc(p, small, isize::MAX as usize - 4095) }.is_null());
    check(p, 64, 1);
    unsafe { Hakmem.dealloc(p, small) };
}

#[test]
fn version_is_the_c_core_s() {
    // HAKMEM_VERSION_STRING of the header the core was compiled with (build.rs).
    assert_eq!(hakmem::version(), env!("HAKMEM_RS_C_VERSION"));
    let parts: Vec<u32> = hakmem::version()
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(parts.len(), 3);
}
