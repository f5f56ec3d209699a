//! A Rust workload under the system allocator (glibc), hakmem, and the
//! allocators Debian packages (mimalloc, jemalloc, tcmalloc) loaded with
//! LD_PRELOAD under `System`.
//!
//!     cargo run --release --example bench [-- --rounds 5 --threads 4 --scale 1.0]
//!     cargo run --release --example bench -- --smoke     # a short run of each, checked
//!
//! The workload, each phase on `--threads` threads at once: HashMap<String,
//! Vec<u32>> churn, BTreeMap<u64, String> churn, Vec<Box<[u8]>> slots of mixed
//! sizes replaced at random, Vec and String growth (realloc), text split into
//! Strings and joined, and producer/consumer pairs passing batches of Strings
//! over channels (blocks freed by another thread than the one that allocated).
//!
//! A process has one global allocator, so this program runs itself again
//! (`--child`) once per contender and round: the child's global allocator
//! picks System or Hakmem from BENCH_ALLOC at its first allocation (one
//! predictable branch per call, paid by both), and the preloaded peers replace
//! malloc under System. Contenders run interleaved, in a rotating order, for
//! each round; the table gives medians with min-max, and the ratio of
//! System's median time to each contender's (above 1: faster than System).
//! Each child checks that it ran on the allocator it names: hakmem::owns on a
//! Box under hakmem (and not under the others), the library in
//! /proc/self/maps for a preloaded one.
//!
//!     cargo run --release --example bench -- --heap [--rounds 9 --blocks 100000 --reps 5]
//!
//! `--heap` times a phase whose data dies together instead: `--blocks`
//! blocks of 16 B to 2 KiB (log-uniform, the same sizes for every way),
//! each written to, then all freed. Ways: `heap-drop` allocates them in a
//! hakmem::Heap and drops the heap; `heap-each` deallocates them one by one
//! (in allocation order) into the Heap first; `hakmem-each` and
//! `system-each` use Hakmem and System (glibc) through GlobalAlloc, and the
//! preloaded peers System with LD_PRELOAD. Each way and round runs in a
//! child of its own (one untimed phase, then `--reps` timed ones), the ways
//! interleaved in a rotating order; the child also reports the resident
//! memory left after its last phase against before its first.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, CStr};
use std::process::Command;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use hakmem::{Hakmem, Heap};

// ---- the global allocator: System or Hakmem, chosen once per process -------

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const HAKMEM: u8 = 2;
static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// Dispatches every call to the allocator BENCH_ALLOC names ("hakmem", else System).
struct Chosen;

extern "C" {
    fn getenv(name: *const c_char) -> *const c_char;
    fn getrusage(who: i32, usage: *mut RUsage) -> i32;
}

/// struct rusage on 64-bit Linux: two struct timeval, then 14 longs.
#[repr(C)]
struct RUsage {
    utime: [i64; 2],
    stime: [i64; 2],
    rest: [i64; 14],
}

/// Reads BENCH_ALLOC with libc's getenv, which does not allocate (std::env
/// would, from inside the allocator). Racing threads decide the same.
#[cold]
fn decide() -> u8 {
    // SAFETY: a NUL-terminated name; getenv returns null or a C string.
    let value = unsafe { getenv(c"BENCH_ALLOC".as_ptr()) };
    let hakmem = !value.is_null() && unsafe { CStr::from_ptr(value) }.to_bytes() == b"hakmem";
    let choice = if hakmem { HAKMEM } else { SYSTEM };
    CHOICE.store(choice, Ordering::Relaxed);
    choice
}

#[inline]
fn choice() -> u8 {
    match CHOICE.load(Ordering::Relaxed) {
        UNDECIDED => decide(),
        c => c,
    }
}

unsafe impl GlobalAlloc for Chosen {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if choice() == HAKMEM {
            Hakmem.alloc(layout)
        } else {
            System.alloc(layout)
        }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if choice() == HAKMEM {
            Hakmem.alloc_zeroed(layout)
        } else {
            System.alloc_zeroed(layout)
        }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if choice() == HAKMEM {
            Hakmem.dealloc(ptr, layout)
        } else {
            System.dealloc(ptr, layout)
        }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if choice() == HAKMEM {
            Hakmem.realloc(ptr, layout, new_size)
        } else {
            System.realloc(ptr, layout, new_size)
        }
    }
}

#[global_allocator]
static GLOBAL: Chosen = Chosen;

// ---- the workload -----------------------------------------------------------

/// xorshift64*: cheap, and the same sequence for every allocator.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Mostly small, sometimes large: 8 B to 16 KiB, log-uniform.
    fn size(&mut self) -> usize {
        let bits = 3 + self.below(12) as u32;
        (1usize << bits) + self.below(1 << bits) as usize
    }
}

/// One phase: a name and the work of one thread (its seed, the size of the
/// run in thousandths of the standard run).
type Phase = (&'static str, fn(u64, u64) -> u64);

/// Iterations: `base` scaled by `per_mille`, at least one.
fn iters(base: u64, per_mille: u64) -> u64 {
    (base * per_mille / 1000).max(1)
}

fn hashmap_churn(seed: u64, per_mille: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut map: HashMap<String, Vec<u32>> = HashMap::new();
    let mut check = 0u64;
    for _ in 0..iters(200_000, per_mille) {
        let key = format!("key-{}", rng.below(20_000));
        if rng.below(2) == 0 {
            let len = rng.below(24) as u32;
            map.insert(key, (0..len).collect());
        } else if let Some(v) = map.remove(&key) {
            check += v.len() as u64;
        }
    }
    check + map.len() as u64
}

fn btree_churn(seed: u64, per_mille: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut map: BTreeMap<u64, String> = BTreeMap::new();
    let mut check = 0u64;
    for _ in 0..iters(150_000, per_mille) {
        let k = rng.below(50_000);
        if rng.below(3) != 0 {
            map.insert(k, format!("value {k} {}", rng.below(1000)));
        } else if let Some(v) = map.remove(&k) {
            check += v.len() as u64;
        }
    }
    check + map.len() as u64
}

fn vec_slots(seed: u64, per_mille: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut slots: Vec<Box<[u8]>> = (0..4096)
        .map(|_| vec![0u8; 16].into_boxed_slice())
        .collect();
    let mut check = 0u64;
    for _ in 0..iters(250_000, per_mille) {
        let i = rng.below(slots.len() as u64) as usize;
        let len = rng.size();
        let mut b = vec![0u8; len].into_boxed_slice();
        b[len - 1] = len as u8;
        check += slots[i].len() as u64;
        slots[i] = b;
    }
    check
}

fn growth(seed: u64, per_mille: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut check = 0u64;
    for _ in 0..iters(12_000, per_mille) {
        // Vecs and Strings that grow by push (realloc), of varied final sizes.
        let n = rng.size();
        let mut v: Vec<u32> = Vec::new();
        for i in 0..n as u32 / 4 {
            v.push(i);
        }
        let mut s = String::new();
        for i in 0..n / 16 {
            s.push_str(if i % 2 == 0 { "abcdefgh" } else { "ijklmnopq" });
        }
        check += v.len() as u64 + s.len() as u64;
    }
    check
}

fn text(seed: u64, per_mille: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut check = 0u64;
    for _ in 0..iters(16_000, per_mille) {
        let line: String = (0..rng.below(40) + 1)
            .map(|_| format!("w{} ", rng.below(500)))
            .collect();
        let words: Vec<String> = line.split_whitespace().map(|w| w.to_uppercase()).collect();
        let joined = words.join(",");
        check += joined.len() as u64;
    }
    check
}

/// Half the pairs produce batches of Strings, their partners free them.
fn channel(seed: u64, per_mille: u64) -> u64 {
    let (tx, rx) = mpsc::sync_channel::<Vec<String>>(16);
    let producer = thread::spawn(move || {
        let mut rng = Rng::new(seed);
        for _ in 0..iters(6_000, per_mille) {
            let batch: Vec<String> = (0..64)
                .map(|_| "x".repeat(rng.below(200) as usize + 1))
                .collect();
            tx.send(batch).unwrap();
        }
    });
    let mut check = 0u64;
    for batch in rx {
        check += batch.iter().map(|s| s.len() as u64).sum::<u64>();
    }
    producer.join().unwrap();
    check
}

const PHASES: &[Phase] = &[
    ("hashmap", hashmap_churn),
    ("btree", btree_churn),
    ("vec", vec_slots),
    ("growth", growth),
    ("text", text),
    ("channel", channel),
];

/// User plus system CPU seconds of the whole process so far.
fn cpu_seconds() -> f64 {
    let (user, sys) = cpu_user_sys();
    user + sys
}

/// User and system CPU seconds of the whole process so far.
fn cpu_user_sys() -> (f64, f64) {
    let mut u = RUsage {
        utime: [0; 2],
        stime: [0; 2],
        rest: [0; 14],
    };
    // SAFETY: RUSAGE_SELF (0) and a struct of the kernel's layout.
    if unsafe { getrusage(0, &mut u) } != 0 {
        return (f64::NAN, f64::NAN);
    }
    let tv = |t: [i64; 2]| t[0] as f64 + t[1] as f64 * 1e-6;
    (tv(u.utime), tv(u.stime))
}

/// Peak resident set (VmHWM) in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Which allocator serves this process, checked; exits if it is not `name`.
fn identify(name: &str) -> String {
    let b = Box::new(1u64);
    let owned = hakmem::owns((&*b as *const u64).cast());
    let preload = std::env::var("LD_PRELOAD").unwrap_or_default();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let ok = match name {
        "hakmem" => owned && choice() == HAKMEM,
        "system" => !owned && choice() == SYSTEM && preload.is_empty(),
        _ => !owned && !preload.is_empty() && maps.contains(&preload),
    };
    if !ok {
        eprintln!(
            "bench: child for {name} is not running on it (owns={owned}, LD_PRELOAD={preload:?})"
        );
        std::process::exit(2);
    }
    match name {
        "hakmem" => format!("hakmem-{}", hakmem::version()),
        "system" => "glibc".to_string(),
        _ => preload,
    }
}

/// The child: run every phase, print one line of results.
fn child(name: &str, threads: u64, per_mille: u64) {
    let allocator = identify(name);
    let mut line = format!("allocator={allocator}");
    let mut total = 0.0;
    let cpu_start = cpu_seconds();
    for &(phase, work) in PHASES {
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| thread::spawn(move || work(t + 1, per_mille)))
            .collect();
        let check: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(check);
        total += secs;
        line += &format!(" {phase}={secs:.4}");
    }
    line += &format!(
        " total={total:.4} cpu={:.4} rss_kib={}",
        cpu_seconds() - cpu_start,
        peak_rss_kib()
    );
    println!("{line}");
}

// ---- the heap workload (--heap) ----------------------------------------------

/// The sizes of a phase's blocks: 16 B to 2 KiB, log-uniform, from a fixed
/// seed, so that every way allocates the same blocks.
fn phase_sizes(blocks: usize) -> Vec<usize> {
    let mut rng = Rng::new(42);
    (0..blocks)
        .map(|_| {
            let bits = 4 + rng.below(7) as u32;
            (1usize << bits) + rng.below(1 << bits) as usize
        })
        .collect()
}

/// Writes the first and the last byte of a block, as a program would.
#[inline]
fn touch(p: *mut u8, size: usize) {
    // SAFETY: p is a live block of at least `size` (>= 16) bytes.
    unsafe {
        p.write(size as u8);
        p.add(size - 1).write(1);
    }
}

/// One phase in a Heap: every block allocated, then the heap dropped
/// (`each`: every block deallocated first). Returns the seconds spent
/// allocating and freeing.
fn heap_phase(sizes: &[usize], ptrs: &mut Vec<NonNull<u8>>, each: bool) -> (f64, f64) {
    let start = Instant::now();
    let heap = Heap::new().expect("Heap::new");
    for &size in sizes {
        let p = heap
            .alloc(Layout::from_size_align(size, 8).unwrap())
            .expect("heap alloc");
        touch(p.as_ptr(), size);
        ptrs.push(p);
    }
    let allocated = Instant::now();
    if each {
        for (&p, &size) in ptrs.iter().zip(sizes) {
            // SAFETY: a live block of this heap, of this layout.
            unsafe { heap.dealloc(p, Layout::from_size_align(size, 8).unwrap()) };
        }
    }
    drop(heap);
    ptrs.clear();
    let freed = Instant::now();
    (
        (allocated - start).as_secs_f64(),
        (freed - allocated).as_secs_f64(),
    )
}

/// One phase through a GlobalAlloc: every block allocated, then every one
/// deallocated in allocation order.
fn global_phase<A: GlobalAlloc>(a: &A, sizes: &[usize], ptrs: &mut Vec<NonNull<u8>>) -> (f64, f64) {
    let start = Instant::now();
    for &size in sizes {
        // SAFETY: a layout of at least 16 bytes.
        let p = unsafe { a.alloc(Layout::from_size_align(size, 8).unwrap()) };
        let p = NonNull::new(p).expect("alloc");
        touch(p.as_ptr(), size);
        ptrs.push(p);
    }
    let allocated = Instant::now();
    for (&p, &size) in ptrs.iter().zip(sizes) {
        // SAFETY: a live block of `a`, of this layout.
        unsafe { a.dealloc(p.as_ptr(), Layout::from_size_align(size, 8).unwrap()) };
    }
    ptrs.clear();
    let freed = Instant::now();
    (
        (allocated - start).as_secs_f64(),
        (freed - allocated).as_secs_f64(),
    )
}

/// Resident memory now (statm), in KiB.
fn rss_kib() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// The heap workload's child: one untimed phase, `reps` timed ones; prints
/// one line (milliseconds per phase).
fn heap_child(way: &str, blocks: usize, reps: usize) {
    let library = match way {
        "heap-drop" | "heap-each" | "hakmem-each" => format!("hakmem-{}", hakmem::version()),
        "system-each" => identify("system"),
        _ => identify(way.trim_end_matches("-each")),
    };
    let sizes = phase_sizes(blocks);
    let mut ptrs: Vec<NonNull<u8>> = Vec::with_capacity(blocks);
    let rss_before = rss_kib();
    let (mut alloc_s, mut free_s) = (0.0, 0.0);
    let mut cpu_start = (0.0, 0.0);
    for rep in 0..=reps {
        if rep == 1 {
            cpu_start = cpu_user_sys();
        }
        let (a, f) = match way {
            "heap-drop" => heap_phase(&sizes, &mut ptrs, false),
            "heap-each" => heap_phase(&sizes, &mut ptrs, true),
            "hakmem-each" => global_phase(&Hakmem, &sizes, &mut ptrs),
            _ => global_phase(&System, &sizes, &mut ptrs),
        };
        if rep > 0 {
            alloc_s += a;
            free_s += f;
        }
    }
    let (user, sys) = cpu_user_sys();
    let (user, sys) = (user - cpu_start.0, sys - cpu_start.1);
    let ms = |s: f64| s * 1e3 / reps as f64;
    println!(
        "allocator={library} alloc={:.3} free={:.3} total={:.3} cpu={:.3} sys={:.3} rss_left_kib={}",
        ms(alloc_s),
        ms(free_s),
        ms(alloc_s + free_s),
        ms(user + sys),
        ms(sys),
        rss_kib() - rss_before
    );
}

/// The heap workload's harness: the ways interleaved, `rounds` times.
fn heap_bench(smoke: bool, args: &[String]) {
    let rounds: usize = if smoke { 1 } else { arg(args, "--rounds", 9) };
    let blocks: usize = if smoke {
        2000
    } else {
        arg(args, "--blocks", 100_000)
    };
    let reps: usize = if smoke { 1 } else { arg(args, "--reps", 5) };
    let mut ways: Vec<(String, Option<String>)> =
        ["heap-drop", "heap-each", "hakmem-each", "system-each"]
            .iter()
            .map(|w| (w.to_string(), None))
            .collect();
    for c in contenders() {
        if c.preload.is_some() {
            ways.push((format!("{}-each", c.name), c.preload));
        }
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut results: Vec<Vec<Vec<(String, String)>>> = vec![Vec::new(); ways.len()];
    for round in 0..rounds {
        for k in 0..ways.len() {
            let i = (round + k) % ways.len();
            let (way, preload) = &ways[i];
            let mut cmd = Command::new(&exe);
            cmd.args([
                "--heap-child",
                way,
                "--blocks",
                &blocks.to_string(),
                "--reps",
                &reps.to_string(),
            ]);
            cmd.env("BENCH_ALLOC", "system").env_remove("LD_PRELOAD");
            if let Some(p) = preload {
                cmd.env("LD_PRELOAD", p);
            }
            let out = cmd.output().expect("run the heap benchmark child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let line = stdout.lines().find(|l| l.starts_with("allocator="));
            match line {
                Some(line) if out.status.success() => results[i].push(
                    line.split_whitespace()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                _ => {
                    eprintln!(
                        "bench: {way} failed ({}):\n{stdout}{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                    std::process::exit(1);
                }
            }
        }
        eprintln!("bench: heap round {} of {rounds} done", round + 1);
    }
    let value = |i: usize, key: &str| column(&results[i], key);
    let library = |i: usize| -> String {
        results[i][0]
            .iter()
            .find(|(k, _)| k == "allocator")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if smoke {
        for (i, (way, _)) in ways.iter().enumerate() {
            println!("ok {way} (allocator={})", library(i));
        }
        return;
    }
    println!(
        "hakmem Rust heap benchmark: {blocks} blocks of 16 B to 2 KiB per phase, {reps} phases per child, {rounds} rounds interleaved"
    );
    println!();
    println!("| way | library | wall ms per phase, median [min-max] | vs system-each | alloc ms | free ms, median [min-max] | vs system-each | CPU ms (user+sys), median [min-max] | vs system-each | of it sys ms | RSS left MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let sys = ways.iter().position(|(w, _)| w == "system-each").unwrap();
    let (sys_total, sys_free, sys_cpu) = (
        median(&value(sys, "total")),
        median(&value(sys, "free")),
        median(&value(sys, "cpu")),
    );
    for (i, (way, _)) in ways.iter().enumerate() {
        let total = value(i, "total");
        let free = value(i, "free");
        let cpu = value(i, "cpu");
        let (tlo, thi) = min_max(&total);
        let (flo, fhi) = min_max(&free);
        let (clo, chi) = min_max(&cpu);
        println!(
            "| {way} | {} | {:.2} [{:.2}-{:.2}] | x{:.2} | {:.2} | {:.2} [{:.2}-{:.2}] | x{:.2} | {:.2} [{:.2}-{:.2}] | x{:.2} | {:.2} | {:.1} |",
            library(i),
            median(&total),
            tlo,
            thi,
            sys_total / median(&total),
            median(&value(i, "alloc")),
            median(&free),
            flo,
            fhi,
            sys_free / median(&free),
            median(&cpu),
            clo,
            chi,
            sys_cpu / median(&cpu),
            median(&value(i, "sys")),
            median(&value(i, "rss_left_kib")) / 1024.0
        );
    }
}

// ---- the harness ------------------------------------------------------------

struct Contender {
    name: &'static str,
    preload: Option<String>,
}

/// System and hakmem, and each Debian peer that ldconfig knows.
fn contenders() -> Vec<Contender> {
    let mut list = vec![
        Contender {
            name: "system",
            preload: None,
        },
        Contender {
            name: "hakmem",
            preload: None,
        },
    ];
    let cache = Command::new("ldconfig")
        .arg("-p")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let cache = String::from_utf8_lossy(&cache);
    for (name, soname) in [
        ("mimalloc", "libmimalloc.so.2 "),
        ("jemalloc", "libjemalloc.so.2 "),
        ("tcmalloc", "libtcmalloc_minimal.so.4 "),
    ] {
        let path = cache
            .lines()
            .filter(|l| {
                l.trim_start().starts_with(soname)
                    && l.contains("x86-64") == cfg!(target_arch = "x86_64")
            })
            .find_map(|l| l.split("=> ").nth(1))
            .map(|p| p.trim().to_string());
        match path {
            Some(p) => list.push(Contender {
                name,
                preload: Some(p),
            }),
            None => eprintln!(
                "bench: {name} not found by ldconfig -p (Debian: apt-get install {})",
                match name {
                    "mimalloc" => "libmimalloc2.0",
                    "jemalloc" => "libjemalloc2",
                    _ => "libtcmalloc-minimal4",
                }
            ),
        }
    }
    list
}

/// Runs one child; returns its result fields.
fn run_child(c: &Contender, threads: u64, per_mille: u64) -> Vec<(String, String)> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--child",
        c.name,
        "--threads",
        &threads.to_string(),
        "--per-mille",
        &per_mille.to_string(),
    ]);
    cmd.env(
        "BENCH_ALLOC",
        if c.name == "hakmem" {
            "hakmem"
        } else {
            "system"
        },
    );
    cmd.env_remove("LD_PRELOAD");
    if let Some(p) = &c.preload {
        cmd.env("LD_PRELOAD", p);
    }
    let out = cmd.output().expect("run the benchmark child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!(
            "bench: {} failed ({}):\n{stdout}{}",
            c.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("allocator="))
        .unwrap_or_else(|| {
            eprintln!("bench: no result line from {}:\n{stdout}", c.name);
            std::process::exit(1)
        });
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One field of every run of a contender (its `key=value` pairs), as
/// numbers; NaN where a run lacks it.
fn column(runs: &[Vec<(String, String)>], key: &str) -> Vec<f64> {
    runs.iter()
        .map(|r| {
            r.iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(f64::NAN)
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v}"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let threads: u64 = arg(&args, "--threads", 4);
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let name = args.get(i + 1).expect("--child NAME");
        child(name, threads, arg(&args, "--per-mille", 1000));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--heap-child") {
        let way = args.get(i + 1).expect("--heap-child WAY");
        heap_child(
            way,
            arg(&args, "--blocks", 100_000),
            arg(&args, "--reps", 5),
        );
        return;
    }
    if args.iter().any(|a| a == "--heap") {
        heap_bench(smoke, &args);
        return;
    }
    // --smoke: one round of a hundredth of the standard run, for the tests.
    let rounds: usize = if smoke { 1 } else { arg(&args, "--rounds", 5) };
    let scale: f64 = if smoke {
        0.01
    } else {
        arg(&args, "--scale", 1.0)
    };
    let per_mille = (scale * 1000.0).round().max(1.0) as u64;
    let list = contenders();
    let mut results: Vec<Vec<Vec<(String, String)>>> = vec![Vec::new(); list.len()];
    let mut libs: Vec<String> = vec![String::new(); list.len()];
    for round in 0..rounds {
        // Interleaved, the starting contender rotating with the round.
        for k in 0..list.len() {
            let i = (round + k) % list.len();
            let r = run_child(&list[i], threads, per_mille);
            libs[i] = r
                .iter()
                .find(|(k, _)| k == "allocator")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            results[i].push(r);
        }
        eprintln!("bench: round {} of {rounds} done", round + 1);
    }
    if smoke {
        for (c, lib) in list.iter().zip(&libs) {
            println!("ok {} (allocator={lib})", c.name);
        }
        return;
    }
    let field = |i: usize, key: &str| column(&results[i], key);
    let system_total = median(&field(0, "total"));
    println!(
        "hakmem Rust benchmark: {threads} threads per phase, scale {scale}, {rounds} rounds interleaved, {} CPUs",
        thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!();
    let system_cpu = median(&field(0, "cpu"));
    println!("| allocator | library | wall s, median [min-max] | speed vs System | CPU s (user+sys), median [min-max] | vs System | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    for (i, c) in list.iter().enumerate() {
        let t = field(i, "total");
        let (lo, hi) = min_max(&t);
        let cpu = field(i, "cpu");
        let (clo, chi) = min_max(&cpu);
        let rss = median(&field(i, "rss_kib")) / 1024.0;
        println!(
            "| {} | {} | {:.3} [{:.3}-{:.3}] | x{:.2} | {:.3} [{:.3}-{:.3}] | x{:.2} | {:.1} |",
            c.name,
            libs[i],
            median(&t),
            lo,
            hi,
            system_total / median(&t),
            median(&cpu),
            clo,
            chi,
            system_cpu / median(&cpu),
            rss
        );
    }
    println!();
    print!("| phase: median wall s (speed vs System) |");
    for c in &list {
        print!(" {} |", c.name);
    }
    println!();
    println!("|---|{}", "---|".repeat(list.len()));
    for &(phase, _) in PHASES {
        print!("| {phase} |");
        let base = median(&field(0, phase));
        for i in 0..list.len() {
            let m = median(&field(i, phase));
            print!(" {m:.3} (x{:.2}) |", base / m);
        }
        println!();
    }
}
