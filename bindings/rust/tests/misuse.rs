//! Misuse of the allocator through Rust's unsafe API aborts with hakmem's
//! message, as it does in C (each case in a child process). Under the
//! `debug-checks` feature the C core also checks each layout it is given.

mod common;

use hakmem::Hakmem;
use std::alloc::{GlobalAlloc, Layout};

#[global_allocator]
static GLOBAL: Hakmem = Hakmem;

/// Runs `test` in a child; it must die of SIGABRT after printing `message`.
fn expect_abort(test: &str, message: &str) {
    let out = common::run_child(test, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{test}: the child survived:\n{stderr}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(6),
            "{test}: not an abort:\n{stderr}"
        );
    }
    assert!(
        stderr.contains(message),
        "{test}: expected {message:?} on stderr:\n{stderr}"
    );
}

#[test]
fn double_free_aborts() {
    const TEST: &str = "double_free_aborts";
    if common::is_child(TEST) {
        let layout = Layout::from_size_align(64, 8).unwrap();
        unsafe {
            let p = Hakmem.alloc(layout);
            Hakmem.dealloc(p, layout);
            Hakmem.dealloc(p, layout);
        }
        return;
    }
    expect_abort(TEST, "double free");
}

#[test]
fn dealloc_of_foreign_memory_aborts() {
    const TEST: &str = "dealloc_of_foreign_memory_aborts";
    if common::is_child(TEST) {
        let layout = Layout::from_size_align(64, 8).unwrap();
        let mut on_stack = [0u64; 8];
        unsafe { Hakmem.dealloc(on_stack.as_mut_ptr().cast(), layout) };
        return;
    }
    expect_abort(TEST, "invalid pointer");
}

/// Only the debug build checks the alignment of a pointer against the
/// layout it is freed with: this test tells that the feature took effect.
#[cfg(feature = "debug-checks")]
#[test]
fn debug_checks_catch_a_wrong_layout() {
    const TEST: &str = "debug_checks_catch_a_wrong_layout";
    if common::is_child(TEST) {
        let layout = Layout::from_size_align(64, 16).unwrap();
        unsafe {
            let p = Hakmem.alloc(Layout::from_size_align(256, 16).unwrap());
            // Not 64-aligned (of p+16 and p+32 one is not), inside a block of hakmem's.
            let q = p.add(if (p as usize + 16) & 63 != 0 { 16 } else { 32 });
            Hakmem.dealloc(q, Layout::from_size_align(16, 64).unwrap());
            Hakmem.dealloc(p, layout);
        }
        return;
    }
    expect_abort(TEST, "pointer not aligned as its layout says");
}

#[test]
fn dealloc_into_another_heap_aborts() {
    const TEST: &str = "dealloc_into_another_heap_aborts";
    if common::is_child(TEST) {
        let (a, b) = (hakmem::Heap::new().unwrap(), hakmem::Heap::new().unwrap());
        let layout = Layout::from_size_align(64, 8).unwrap();
        let p = a.alloc(layout).unwrap();
        unsafe { b.dealloc(p, layout) };
        return;
    }
    expect_abort(TEST, "block of another heap");
}

/// Heap::visit holds the heap's lock: the callback may not change the heap
/// (a call that needs the lock aborts rather than deadlocks).
#[test]
fn heap_changed_inside_visit_aborts() {
    const TEST: &str = "heap_changed_inside_visit_aborts";
    if common::is_child(TEST) {
        let heap = hakmem::Heap::new().unwrap();
        let _p = heap.alloc(Layout::from_size_align(64, 8).unwrap()).unwrap();
        heap.visit(|_, _| {
            // Large: never served from the thread's cache, so it needs the lock.
            let _q = heap.alloc(Layout::from_size_align(1 << 20, 8).unwrap());
            true
        });
        return;
    }
    expect_abort(TEST, "heap changed inside its own hak_heap_visit callback");
}

/// A panic in the visit callback cannot unwind through C's walk (which holds
/// the heap's lock): it aborts.
#[test]
fn panic_inside_visit_aborts() {
    const TEST: &str = "panic_inside_visit_aborts";
    if common::is_child(TEST) {
        let heap = hakmem::Heap::new().unwrap();
        let _p = heap.alloc(Layout::from_size_align(64, 8).unwrap()).unwrap();
        heap.visit(|_, _| panic!("the callback's own panic"));
        return;
    }
    expect_abort(TEST, "a panic cannot unwind through the heap walk");
}
