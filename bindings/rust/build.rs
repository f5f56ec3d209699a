//! Builds hakmem's C core into `$OUT_DIR/libhakmem.a` with the system C
//! compiler (no `cc` crate: the crate has no dependencies and builds offline).
//!
//! What it builds: every `lib/*.c` except `wrap.c` (the file that defines
//! `malloc`, `free` and the rest of the standard names), that is the sources of
//! `libhakmem_api` in Makefile.am, with configure.ac's release flags. The
//! objects are linked into one relocatable object whose hidden symbols are then
//! made local, so the archive defines the public `hak_*` names and nothing else
//! (checked with `nm` below). One object also means the C core's constructor and
//! its at-exit statistics report are always linked in, which an archive of
//! separate objects would drop when no Rust code named their files' functions.
//!
//! Where the C sources come from, first match wins:
//!   1. `$HAKMEM_SOURCE_DIR` (a tree with `lib/` and `include/`),
//!   2. the source tree this crate sits in (`../../lib`, `../../include`),
//!   3. `csrc/` in the crate, the copy `vendor-c.sh` makes for `cargo package`.
//!
//! Tools: `$CC` (or `$CC_<target>`, `$TARGET_CC`; default `cc`), `$AR` (default
//! `ar`), `$OBJCOPY` and `$NM` (defaults `objcopy`, `nm`: binutils).
//! `HAKMEM_WERROR=1` turns the C warnings into errors (the tests set it).
//! Feature `debug-checks`: the C core as `configure --enable-debug` builds it.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The HAKMEM_ABI_VERSION that src/ffi.rs declares.
const CRATE_ABI_VERSION: &str = "1";

/// configure.ac's HAK_WARN_CFLAGS (each probed there too).
const WARN_CFLAGS: &[&str] = &["-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes"];

/// configure.ac's HAK_LIB_CFLAGS: the allocator must not let the compiler turn
/// its own code into calls of malloc/calloc (gcc rewrites malloc+memset into
/// calloc); hidden visibility keeps every internal name out of the interface.
const LIB_CFLAGS: &[&str] = &[
    "-std=gnu11",
    "-fvisibility=hidden",
    "-fno-builtin-malloc",
    "-fno-builtin-calloc",
    "-fno-builtin-realloc",
    "-fno-builtin-free",
    "-fno-plt",
];

/// configure's HAK_OPT_CFLAGS for a release build. HAK_DEBUG=0 is also
/// lib/platform.h's default; spelled out so the choice shows in the build log.
const RELEASE_CFLAGS: &[&str] = &["-O2", "-g", "-DNDEBUG", "-DHAK_DEBUG=0"];
/// `configure --enable-debug`'s HAK_OPT_CFLAGS.
const DEBUG_CFLAGS: &[&str] = &["-O1", "-g", "-DHAK_DEBUG=1"];

/// Flags configure keeps only when the compiler takes them.
/// -mtls-dialect=gnu2 is libhakmem_api's TLS model (HAK_TLS_DYN): TLS
/// descriptors. The archive may end up in a cdylib that a program dlopens late
/// (a Python extension written in Rust), where initial-exec TLS fails for want
/// of static TLS space; in an executable the linker relaxes descriptor accesses
/// to local-exec, so a Rust program pays no call for them. aarch64 compilers
/// use descriptors by default and reject the flag, so it is probed.
const OPTIONAL_CFLAGS: &[&str] = &["-fno-semantic-interposition", "-mtls-dialect=gnu2"];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").unwrap_or_default();

    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "HAKMEM_SOURCE_DIR",
        "HAKMEM_WERROR",
        "CC",
        "TARGET_CC",
        "AR",
        "TARGET_AR",
        "OBJCOPY",
        "NM",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-env-changed=CC_{target}");
    println!("cargo:rerun-if-env-changed=CC_{}", target.replace('-', "_"));
    println!("cargo:rerun-if-env-changed=AR_{}", target.replace('-', "_"));

    let (lib_dir, include_dir) = find_sources(&manifest_dir);
    // A directory given to rerun-if-changed is scanned whole: a file added to
    // lib/ or changed in it rebuilds the core.
    println!("cargo:rerun-if-changed={}", lib_dir.display());
    println!("cargo:rerun-if-changed={}", include_dir.display());

    let sources = c_sources(&lib_dir);
    let cc = tool(
        &[
            "CC_".to_string() + &target,
            "CC_".to_string() + &target.replace('-', "_"),
            "TARGET_CC".into(),
            "CC".into(),
        ],
        "cc",
    );
    let ar = tool(
        &[
            "AR_".to_string() + &target.replace('-', "_"),
            "TARGET_AR".into(),
            "AR".into(),
        ],
        "ar",
    );
    let objcopy = tool(&["OBJCOPY".into()], "objcopy");
    let nm = tool(&["NM".into()], "nm");

    let obj_dir = out_dir.join("obj");
    // Objects of files since removed from lib/ must not be linked in.
    let _ = fs::remove_dir_all(&obj_dir);
    fs::create_dir_all(&obj_dir).expect("create $OUT_DIR/obj");

    let mut flags: Vec<String> = Vec::new();
    flags.extend(LIB_CFLAGS.iter().map(|s| s.to_string()));
    for flag in WARN_CFLAGS.iter().chain(OPTIONAL_CFLAGS) {
        if accepts(&cc, flag, &obj_dir) {
            flags.push(flag.to_string());
        }
    }
    let debug = env::var_os("CARGO_FEATURE_DEBUG_CHECKS").is_some();
    flags.extend(
        (if debug { DEBUG_CFLAGS } else { RELEASE_CFLAGS })
            .iter()
            .map(|s| s.to_string()),
    );
    // Position-independent: Rust executables are PIE by default, and the
    // archive may also be linked into a shared object. HAK_TCP_DYNAMIC keeps
    // the thread-cache pointer out of initial-exec TLS (lib/tcache.h), which a
    // shared object dlopened late may find no room for (see OPTIONAL_CFLAGS).
    flags.extend(
        ["-fPIC", "-pthread", "-DHAK_TCP_DYNAMIC=1"]
            .iter()
            .map(|s| s.to_string()),
    );
    if env::var("HAKMEM_WERROR").map(|v| v == "1").unwrap_or(false) {
        flags.push("-Werror".into());
    }
    flags.push(format!("-I{}", include_dir.display()));

    let objects = compile_all(&cc, &flags, &sources, &obj_dir);

    // One relocatable object, then its hidden symbols made local.
    let combined = out_dir.join("hakmem_core.o");
    let mut link = command(&cc);
    link.args(["-r", "-nostdlib", "-o"])
        .arg(&combined)
        .args(&objects);
    run(&mut link, "partial link of the C core");
    let mut localize = command(&objcopy);
    localize.arg("--localize-hidden").arg(&combined);
    run(&mut localize, "objcopy --localize-hidden (binutils)");
    check_exports(&nm, &combined);

    let archive = out_dir.join("libhakmem.a");
    let _ = fs::remove_file(&archive);
    let mut pack = command(&ar);
    pack.arg("crs").arg(&archive).arg(&combined);
    run(&mut pack, "ar");

    println!("cargo:rustc-link-search=native={}", out_dir.display());
    println!("cargo:rustc-link-lib=static=hakmem");
    if target.contains("linux") {
        // pthread_key_create, pthread_atfork, mutexes (in libc since glibc 2.34).
        println!("cargo:rustc-link-lib=pthread");
    }
    // For build scripts of crates depending on this one (DEP_HAKMEM_INCLUDE).
    println!("cargo:include={}", include_dir.display());

    let header = fs::read_to_string(include_dir.join("hakmem.h")).expect("read include/hakmem.h");
    let c_version = header_define(&header, "HAKMEM_VERSION_STRING")
        .trim_matches('"')
        .to_string();
    let crate_version = env::var("CARGO_PKG_VERSION").unwrap_or_default();
    if c_version != crate_version {
        println!(
            "cargo:warning=hakmem's C core is version {c_version} (include/hakmem.h) but the crate says {crate_version} (Cargo.toml)"
        );
    }
    println!("cargo:rustc-env=HAKMEM_RS_C_VERSION={c_version}");
    // The declarations in src/ffi.rs are those of ABI 1: an entry point that
    // changed meaning must be looked at before the crate links against it.
    let abi = header_define(&header, "HAKMEM_ABI_VERSION");
    if abi != CRATE_ABI_VERSION {
        panic!("include/hakmem.h has HAKMEM_ABI_VERSION {abi}; src/ffi.rs is written for {CRATE_ABI_VERSION}");
    }
}

/// (lib/, include/) of the first source tree that has lib/hakmem.c and
/// include/hakmem.h; panics with the places it looked otherwise.
fn find_sources(manifest_dir: &Path) -> (PathBuf, PathBuf) {
    let complete = |base: &Path| {
        base.join("lib/hakmem.c").is_file() && base.join("include/hakmem.h").is_file()
    };
    if let Some(dir) = env::var_os("HAKMEM_SOURCE_DIR") {
        let base = PathBuf::from(dir);
        if !complete(&base) {
            panic!(
                "HAKMEM_SOURCE_DIR={} has no lib/hakmem.c and include/hakmem.h: point it at a hakmem source tree",
                base.display()
            );
        }
        return (base.join("lib"), base.join("include"));
    }
    let candidates = [manifest_dir.join("../.."), manifest_dir.join("csrc")];
    for base in &candidates {
        if complete(base) {
            let base = base.canonicalize().unwrap_or_else(|_| base.clone());
            return (base.join("lib"), base.join("include"));
        }
    }
    panic!(
        "hakmem: cannot find the C sources (lib/hakmem.c and include/hakmem.h) in {} or {}. \
         Build the crate where it sits in the hakmem source tree (bindings/rust), run \
         vendor-c.sh before `cargo package`, or set HAKMEM_SOURCE_DIR to a hakmem source tree.",
        candidates[0].display(),
        candidates[1].display()
    );
}

/// lib/*.c except wrap.c, sorted: listed, not named, so that a file added to
/// the core is built without a change here.
fn c_sources(lib_dir: &Path) -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = fs::read_dir(lib_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", lib_dir.display()))
        .map(|entry| entry.expect("read lib/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .filter(|p| p.file_name().is_some_and(|n| n != "wrap.c"))
        .collect();
    sources.sort();
    sources
}

/// The first of the environment variables that is set, split into program and
/// arguments ("ccache gcc" works), else the default.
fn tool(vars: &[String], default: &str) -> Vec<String> {
    for var in vars {
        if let Ok(value) = env::var(var) {
            let words: Vec<String> = value.split_whitespace().map(String::from).collect();
            if !words.is_empty() {
                return words;
            }
        }
    }
    vec![default.to_string()]
}

fn command(tool: &[String]) -> Command {
    let mut c = Command::new(&tool[0]);
    c.args(&tool[1..]);
    c
}

/// Runs a tool that must succeed; its stderr goes into the panic message.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed: {cmd:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Whether the compiler takes a flag without a warning (as configure's
/// hak_try_cflag: -Werror on an empty program).
fn accepts(cc: &[String], flag: &str, dir: &Path) -> bool {
    let src = dir.join("probe.c");
    fs::write(
        &src,
        "int hak_probe(void);\nint hak_probe(void) { return 0; }\n",
    )
    .expect("write probe.c");
    command(cc)
        .args(["-Werror", flag, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(dir.join("probe.o"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Compiles every source, as many at a time as cargo allows; warnings are
/// shown as cargo warnings, errors stop the build with the compiler's output.
fn compile_all(
    cc: &[String],
    flags: &[String],
    sources: &[PathBuf],
    obj_dir: &Path,
) -> Vec<PathBuf> {
    let jobs: usize = env::var("NUM_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2)
        .max(1);
    let mut objects = Vec::new();
    for batch in sources.chunks(jobs) {
        let mut running = Vec::new();
        for src in batch {
            let stem = src
                .file_stem()
                .expect("source file name")
                .to_string_lossy()
                .into_owned();
            let obj = obj_dir.join(format!("{stem}.o"));
            let mut cmd = command(cc);
            cmd.args(flags).arg("-c").arg(src).arg("-o").arg(&obj);
            let child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e} (set CC)", cc[0]));
            running.push((cmd, child));
            objects.push(obj);
        }
        for (cmd, child) in running {
            let out = child.wait_with_output().expect("wait for the C compiler");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                panic!("compiling hakmem's C core failed: {cmd:?}\n{stderr}");
            }
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                println!("cargo:warning={line}");
            }
        }
    }
    objects
}

/// Fails the build if the object defines any global name but hak_*: the
/// archive must not bring malloc, free or internal names into a program.
fn check_exports(nm: &[String], object: &Path) {
    let mut cmd = command(nm);
    cmd.args(["-g", "--defined-only"]).arg(object);
    let out = run(&mut cmd, "nm (binutils)");
    let listing = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let foreign: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !n.starts_with("hak_"))
        .collect();
    if !foreign.is_empty() || !names.contains(&"hak_alloc") {
        panic!(
            "the C core must define hak_* names only (and hak_alloc); {} defines: {}",
            object.display(),
            names.join(" ")
        );
    }
}

/// The value of `#define NAME value` in the header.
fn header_define(header: &str, name: &str) -> String {
    header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .filter_map(|l| l.trim().strip_prefix(name))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map(|rest| rest.trim().to_string())
        .next()
        .unwrap_or_else(|| panic!("include/hakmem.h has no #define {name}"))
}
