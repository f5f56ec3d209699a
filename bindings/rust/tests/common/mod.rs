//! Running one test of this binary again in a child process, for what must
//! happen at process start (environment options) or end the process (aborts).

use std::process::{Command, Output};

/// Set in the child: the test body to run there.
pub const CHILD_VAR: &str = "HAKMEM_RS_TEST_CHILD";

/// True in the child run of `test` (the test then does the child's part).
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_VAR).is_ok_and(|v| v == test)
}

/// Runs this test binary's test `test` alone in a child, with `env` added.
pub fn run_child(test: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, test);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the test binary as a child")
}
