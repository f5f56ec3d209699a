//! hakmem::stats and hakmem::collect, with hakmem as the global allocator.
//! The counters are process-wide, so the tests of this file run one at a time
//! (LOCK) and allow for the little the test harness allocates meanwhile.

mod common;

use hakmem::Hakmem;
use std::sync::Mutex;
use std::thread;

#[global_allocator]
static GLOBAL: Hakmem = Hakmem;

static LOCK: Mutex<()> = Mutex::new(());

const MIB: u64 = 1 << 20;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn snapshot_is_consistent() {
    let _g = serial();
    let keep: Vec<Box<[u8]>> = (0..100)
        .map(|i| vec![1u8; 100 + i].into_boxed_slice())
        .collect();
    let s = hakmem::stats();
    assert_eq!(s.version, 2);
    let by_env = ["HAKMEM_STATS", "HAKMEM_FREE_ROUTE_TRACE"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|x| x == "1"));
    assert_eq!(s.stats_enabled, by_env);
    assert!(s.bytes_in_use > 0);
    assert!(s.superslabs >= 1 && s.spans >= 1);
    assert!(
        s.bytes_reserved + s.bytes_mapped >= s.bytes_committed,
        "{s:?}"
    );
    assert!(s.bytes_mapped < s.bytes_reserved, "{s:?}");
    assert!(s.bytes_committed_peak >= s.bytes_committed, "{s:?}");
    assert!(s.bytes_committed >= s.bytes_in_use, "{s:?}");
    assert!(s.os_maps >= 1);
    drop(keep);
}

#[test]
fn bytes_in_use_follow_small_and_medium_blocks() {
    let _g = serial();
    let before = hakmem::stats();
    // 16 MiB in 4 KiB blocks (medium tier) and 4 MiB in 64-byte blocks (small tier).
    let mid: Vec<Box<[u8]>> = (0..4096)
        .map(|_| vec![3u8; 4096].into_boxed_slice())
        .collect();
    let tiny: Vec<Box<[u64; 8]>> = (0..65536).map(|i| Box::new([i as u64; 8])).collect();
    let during = hakmem::stats();
    assert!(
        during.bytes_in_use >= before.bytes_in_use + 20 * MIB,
        "20 MiB allocated, bytes_in_use {} -> {}",
        before.bytes_in_use,
        during.bytes_in_use
    );
    assert!(during.spans > before.spans);
    assert!(during.bytes_committed >= before.bytes_committed + 20 * MIB);
    assert!(during.refills > before.refills);
    drop(mid);
    drop(tiny);
    let after = hakmem::stats();
    // Freed blocks go to this thread's cache (bytes_cached, at most
    // HAKMEM_TCACHE_BYTES per class) or back to their slabs: not in use.
    assert!(
        after.bytes_in_use <= before.bytes_in_use + MIB,
        "all freed, bytes_in_use {} -> {} -> {}",
        before.bytes_in_use,
        during.bytes_in_use,
        after.bytes_in_use
    );
    assert!(
        after.flushes > during.flushes,
        "freeing 20 MiB flushed no thread list"
    );
}

#[test]
fn large_blocks_are_counted() {
    let _g = serial();
    let before = hakmem::stats();
    let mut big = vec![0u8; 8 << 20];
    big[12345] = 1;
    let during = hakmem::stats();
    assert_eq!(during.large_blocks, before.large_blocks + 1);
    assert!(during.large_bytes >= before.large_bytes + 8 * MIB);
    assert_eq!(during.large_mallocs, before.large_mallocs + 1);
    // Other threads' lists are counted as of their last refill or flush, so
    // a harness thread that exits meanwhile can move bytes_in_use a little.
    assert!(during.bytes_in_use + MIB >= before.bytes_in_use + 8 * MIB);
    drop(big);
    let after = hakmem::stats();
    assert_eq!(after.large_blocks, before.large_blocks);
    assert_eq!(after.large_bytes, before.large_bytes);
    assert_eq!(after.large_frees, before.large_frees + 1);
}

#[test]
fn collect_returns_memory() {
    let _g = serial();
    // Memory that hakmem keeps after it is freed: a freed large block stays
    // resident for reuse (HAKMEM_LARGE_CACHE), and on a thread that has
    // exited, slabs emptied within the retain budget stay warm.
    thread::spawn(|| {
        let blocks: Vec<Box<[u8]>> = (0..256)
            .map(|_| vec![5u8; 16 << 10].into_boxed_slice())
            .collect();
        drop(blocks);
    })
    .join()
    .unwrap();
    let big = vec![7u8; 12 << 20];
    drop(big);
    // 48 KiB on this thread's own lists, which collect empties.
    let small: Vec<Box<[u8]>> = (0..48)
        .map(|_| vec![3u8; 1024].into_boxed_slice())
        .collect();
    drop(small);
    let before = hakmem::stats();
    let released = hakmem::collect();
    let after = hakmem::stats();
    assert!(released >= (8 << 20), "collect released {released} bytes");
    assert!(
        after.bytes_committed + 8 * MIB <= before.bytes_committed,
        "committed {} -> {} after collect",
        before.bytes_committed,
        after.bytes_committed
    );
    assert!(after.os_purges + after.os_unmaps > before.os_purges + before.os_unmaps);
    // bytes_cached counts every thread's lists, other threads' as of their
    // last refill or flush (the test harness's own threads allocate at any
    // time, a few hundred bytes): collect empties the caller's 48 KiB.
    assert!(
        after.bytes_cached + 32 * 1024 <= before.bytes_cached,
        "bytes_cached {} -> {} across collect",
        before.bytes_cached,
        after.bytes_cached
    );
}

/// With HAKMEM_STATS=1 (read at start, so in a child process) the per-call
/// counters move with the program's allocations and frees.
#[test]
fn per_call_counters_with_hakmem_stats() {
    const TEST: &str = "per_call_counters_with_hakmem_stats";
    if common::is_child(TEST) {
        let _g = serial();
        let before = hakmem::stats();
        assert!(before.stats_enabled);
        let tiny: Vec<Box<[u8; 48]>> = (0..1000).map(|_| Box::new([1u8; 48])).collect();
        let mid: Vec<Box<[u8]>> = (0..100)
            .map(|_| vec![2u8; 8000].into_boxed_slice())
            .collect();
        let during = hakmem::stats();
        assert!(
            during.tiny_mallocs >= before.tiny_mallocs + 1000,
            "{before:?}\n{during:?}"
        );
        assert!(
            during.mid_mallocs >= before.mid_mallocs + 100,
            "{before:?}\n{during:?}"
        );
        drop(tiny);
        drop(mid);
        let after = hakmem::stats();
        assert!(after.tiny_frees >= during.tiny_frees + 1000);
        assert!(after.mid_frees >= during.mid_frees + 100);
        assert!(after.route_tiny_fast >= during.route_tiny_fast + 1000);
        assert!(after.route_mid_fast >= during.route_mid_fast + 100);
        assert_eq!(after.route_slab_lookup, 0, "frees missed the fast path");
        println!("child-ok");
        return;
    }
    let out = common::run_child(TEST, &[("HAKMEM_STATS", "1")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("child-ok"),
        "child failed:\n{stdout}\n{stderr}"
    );
    // The C core's report at exit, as with C programs.
    assert!(
        stderr.contains("hakmem: statistics"),
        "no report at exit:\n{stderr}"
    );
}
