//! hakmem as the program's global allocator: every `Box`, `Vec`, `String` and
//! map below is hakmem's memory.
//!
//!     cargo run --release --example global

use std::collections::HashMap;

#[global_allocator]
static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;

fn main() {
    println!("hakmem {}", hakmem::version());

    // Word counts of a generated text: strings, a map, a vector.
    let text: String = (0..200_000u32)
        .map(|i| format!("w{} ", i * 7 % 1000))
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    let mut top: Vec<(&str, usize)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    println!(
        "{} words, {} distinct, most frequent {:?}",
        text.split_whitespace().count(),
        top.len(),
        top[0]
    );

    let boxed = Box::new(top.len());
    assert!(
        hakmem::owns(&*boxed as *const usize as *const u8),
        "the Box is not hakmem's"
    );
    assert!(hakmem::owns(text.as_ptr()), "the String is not hakmem's");

    let s = hakmem::stats();
    println!(
        "in use {} KiB, committed {} KiB (peak {} KiB), {} spans in {} SuperSlabs",
        s.bytes_in_use >> 10,
        s.bytes_committed >> 10,
        s.bytes_committed_peak >> 10,
        s.spans,
        s.superslabs
    );
    drop(top);
    drop(text);
    let released = hakmem::collect();
    println!(
        "collect() gave {} KiB back; committed now {} KiB",
        released >> 10,
        hakmem::stats().bytes_committed >> 10
    );
}
